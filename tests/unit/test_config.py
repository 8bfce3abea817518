"""Config and the command line: CLI > $BEEMO_* > defaults, and one-line errors."""

from __future__ import annotations

import dataclasses

import pytest

from beemo.cli import build_parser, parse_config
from beemo.config import Config, Limits, Timeouts, options
from beemo.errors import ConfigError

APP = ["main:app"]


def config(*argv: str, **environ: str) -> Config:
    return parse_config([*argv, *APP], environ)


def refused(*argv: str, **environ: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config([*argv, *APP], environ)
    message = str(caught.value)
    assert message and "\n" not in message, "ConfigError must be one line"
    return message


def test_defaults() -> None:
    got = config()
    assert got == Config(app="main:app")
    assert got.bind == ("127.0.0.1:8000",) and got.threads == 1 and got.poller == "auto"
    assert got.limits == Limits() and got.timeouts == Timeouts()


def test_every_setting_is_declared_once_with_its_default() -> None:
    declared = options()
    assert [name for name, _, _ in declared] == [f.name for f in dataclasses.fields(Config)]
    defaults = Config()
    for name, option, default in declared:
        assert getattr(defaults, name) == default
        if option.kind != "positional":
            assert all(flag.startswith("-") for flag in option.flags)
    flags = [flag for _, option, _ in declared for flag in option.flags]
    assert len(flags) == len(set(flags))


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().threads = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Config("main:app")  # type: ignore[call-arg]  # keyword-only


@pytest.mark.parametrize(
    ("argv", "environ", "field", "value"),
    [
        ([], {"BEEMO_THREADS": "4"}, "threads", 4),
        (["--threads", "8"], {"BEEMO_THREADS": "4"}, "threads", 8),
        (["--threads=8"], {}, "threads", 8),
        ([], {"BEEMO_KEEP_ALIVE": "1.5"}, "keep_alive", 1.5),
        (["--keep-alive", "0"], {"BEEMO_KEEP_ALIVE": "1.5"}, "keep_alive", 0.0),
        ([], {"BEEMO_ACCESS_LOG": "yes"}, "access_log", True),
        ([], {"BEEMO_ACCESS_LOG": ""}, "access_log", False),
        (["--no-access-log"], {"BEEMO_ACCESS_LOG": "true"}, "access_log", False),
        (["--access-log"], {"BEEMO_ACCESS_LOG": "0"}, "access_log", True),
        (["--factory"], {}, "factory", True),
        ([], {"BEEMO_FACTORY": "on"}, "factory", True),
        ([], {"BEEMO_LOG_LEVEL": "debug"}, "log_level", "debug"),
        (["--log-level", "error"], {"BEEMO_LOG_LEVEL": "debug"}, "log_level", "error"),
        ([], {"BEEMO_ROOT_PATH": "/api"}, "root_path", "/api"),
        ([], {"BEEMO_LIMIT_REQUEST_LINE": "100"}, "limit_request_line", 100),
        (
            ["--limit-request-body", "10"],
            {"BEEMO_LIMIT_REQUEST_BODY": "99"},
            "limit_request_body",
            10,
        ),
        ([], {"BEEMO_POLLER": "select"}, "poller", "auto"),  # read by beemo.os, not Config
        (["--poller", "select"], {}, "poller", "select"),
        ([], {"BEEMO_INTERFACE": "wsgi"}, "interface", "wsgi"),
        ([], {"UNRELATED": "x", "BEEMO_": "y", "BEEMO_NOT_A_SETTING": "z"}, "threads", 1),
    ],
)
def test_precedence(argv: list[str], environ: dict[str, str], field: str, value: object) -> None:
    assert getattr(config(*argv, **environ), field) == value


def test_the_limits_slice() -> None:
    got = config(
        "--limit-request-line",
        "10",
        "--limit-request-fields",
        "2",
        "--limit-request-field-size",
        "30",
        "--limit-request-body",
        "5",
    )
    assert got.limits == Limits(10, 2, 30, 5)
    assert got.limits.max_head_size == 10 + 2 * 32 + 4


@pytest.mark.parametrize(
    ("argv", "environ", "bind"),
    [
        (["--bind", "0.0.0.0:80"], {}, ("0.0.0.0:80",)),
        (["-b", "a:1", "--bind", "b:2", "-b", "unix:/tmp/s"], {}, ("a:1", "b:2", "unix:/tmp/s")),
        (["--bind", "a:1 b:2"], {}, ("a:1", "b:2")),
        ([], {"BEEMO_BIND": "a:1,b:2 c:3"}, ("a:1", "b:2", "c:3")),
        (["-b", "x:9"], {"BEEMO_BIND": "a:1,b:2"}, ("x:9",)),  # the CLI replaces, not appends
    ],
)
def test_bind_is_repeatable(
    argv: list[str], environ: dict[str, str], bind: tuple[str, ...]
) -> None:
    assert config(*argv, **environ).bind == bind


@pytest.mark.parametrize(
    ("argv", "environ", "mentions"),
    [
        (["--threads", "many"], {}, "--threads"),
        (["--threads", "0"], {}, "--threads"),
        ([], {"BEEMO_THREADS": "many"}, "BEEMO_THREADS"),
        ([], {"BEEMO_THREADS": ""}, "BEEMO_THREADS"),
        ([], {"BEEMO_THREADS": "0"}, "--threads"),
        (["--backlog", "0"], {}, "--backlog"),
        (["--keep-alive", "-1"], {}, "--keep-alive"),
        (["--client-timeout", "soon"], {}, "--client-timeout"),
        (["--graceful-timeout", "-0.5"], {}, "--graceful-timeout"),
        (["--limit-request-line", "0"], {}, "--limit-request-line"),
        (["--limit-request-fields", "-3"], {}, "--limit-request-fields"),
        (["--limit-request-field-size", "0"], {}, "--limit-request-field-size"),
        (["--limit-request-body", "-1"], {}, "--limit-request-body"),
        (["--log-level", "loud"], {}, "loud"),
        ([], {"BEEMO_LOG_LEVEL": "DEBUG"}, "--log-level"),
        (["--interface", "cgi"], {}, "cgi"),
        ([], {"BEEMO_INTERFACE": "cgi"}, "--interface"),
        (["--poller", "kqueue"], {}, "kqueue"),
        ([], {"BEEMO_FACTORY": "maybe"}, "BEEMO_FACTORY"),
        ([], {"BEEMO_ACCESS_LOG": "2"}, "BEEMO_ACCESS_LOG"),
        (["--bind", ""], {}, "--bind"),
        ([], {"BEEMO_BIND": " , "}, "--bind"),
        (["--no-such-flag"], {}, "--no-such-flag"),
        (["other:app"], {}, "main:app"),  # a second app
    ],
)
def test_bad_values(argv: list[str], environ: dict[str, str], mentions: str) -> None:
    assert mentions in refused(*argv, **environ)


def test_the_app_is_required() -> None:
    with pytest.raises(ConfigError, match="missing the app"):
        parse_config([], {})
    with pytest.raises(ConfigError):
        parse_config([], {"BEEMO_APP": "main:app"})  # not read from the environment


def test_version_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("beemo ")


def test_help_names_every_env_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, option, _ in options():
        assert (f"[$BEEMO_{name.upper()}]" in text) is option.env, name
