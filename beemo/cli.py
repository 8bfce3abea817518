"""The `beemo` command: argv and $BEEMO_* -> Config -> app -> listeners -> Server.

Every flag comes from the metadata of `beemo.config.Config`. A mistake (bad flag, bad value,
unknown module, port in use) prints one line and exits non-zero: 2 for usage and configuration,
1 for an app that cannot be loaded. No traceback, unless the app's own code raised.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from beemo import __version__
from beemo.config import Config, options
from beemo.errors import AppLoadError, ConfigError, LifespanFailure

__all__ = ["build_parser", "main", "parse_config"]

log = logging.getLogger("beemo.error")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def _typed(parse: Any, flag: str) -> Any:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} for {flag}") from None

    convert.__name__ = flag
    return convert


def _shown(default: Any) -> str:
    """A default as a user would type it: on/off, a, b, or none."""
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple):
        return ", ".join(default)
    return str(default) if default != "" else "none"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, generated from the Config fields."""
    parser = _Parser(
        prog="beemo",
        description="Serve a WSGI or ASGI app with Beemo: "
        "`beemo myproject.wsgi:application` or `beemo main:app`.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--version", action="version", version=f"beemo {__version__}")
    for name, option, default in options():
        help_text = (
            f"{option.help} (default: {_shown(default)})"
            if option.kind != "positional"
            else option.help
        )
        if option.env:
            help_text += f" [$BEEMO_{name.upper()}]"
        if option.kind == "positional":
            parser.add_argument(name, metavar=option.metavar, help=help_text, nargs="?")
        elif option.kind == "flag":
            parser.add_argument(
                *option.flags, dest=name, help=help_text, action=argparse.BooleanOptionalAction
            )
        elif option.kind == "append":
            parser.add_argument(
                *option.flags, dest=name, help=help_text, action="append", metavar=option.metavar
            )
        else:
            parser.add_argument(
                *option.flags,
                dest=name,
                help=help_text,
                metavar=option.metavar,
                choices=option.choices,
                type=_typed(option.parse, option.flags[0]),
            )
    return parser


def parse_config(argv: Sequence[str], environ: Mapping[str, str]) -> Config:
    """Build the Config from the command line over the environment over the defaults.

    Raises:
        ConfigError: a bad flag or value, in the command line or the environment.
    """
    values: dict[str, Any] = {}
    for name, option, _ in options():
        key = f"BEEMO_{name.upper()}"
        if option.env and key in environ:
            try:
                values[name] = option.parse(environ[key])
            except ValueError as exc:
                raise ConfigError(f"${key}: {exc}") from None
    given = vars(build_parser().parse_args(list(argv)))
    if "bind" in given:
        given["bind"] = tuple(
            word for value in given["bind"] for word in value.replace(",", " ").split()
        )
    values.update(given)
    if not values.get("app"):
        raise ConfigError("missing the app to serve, e.g. `beemo myproject.wsgi:application`")
    try:
        return Config(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `beemo` command; returns the exit status."""
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"beemo: error: {exc}", file=sys.stderr)
        return ConfigError.exit_status
    from beemo.log import configure

    configure(config.log_level, config.access_log)
    try:
        return _serve(config)
    except (ConfigError, AppLoadError, LifespanFailure) as exc:
        print(f"beemo: error: {exc}", file=sys.stderr)
        return exc.exit_status


def _serve(config: Config) -> int:
    from beemo.loading import load_app, resolve_interface
    from beemo.server.acceptor import Server, server_state
    from beemo.server.listeners import bind

    if config.chdir:
        try:
            os.chdir(config.chdir)
        except OSError as exc:
            raise ConfigError(f"--chdir {config.chdir}: {exc.strerror}") from None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    app = load_app(config.app, config.factory)
    interface = resolve_interface(app, config.app, config.interface)
    state = server_state(config)
    pool = (
        _wsgi_pool(config, state, app)
        if interface == "wsgi"
        else _asgi_pool(config, state, app, interface)
    )
    listeners = []
    try:
        for address in config.bind:
            listeners.append(bind(address, config.backlog))
    except ConfigError:
        for listener in listeners:
            listener.sock.close()
        raise
    log.info("Starting beemo %s", __version__)
    # Everything loaded so far (the app, its framework) lives as long as the process: keep it
    # out of the cyclic collector's generations so full collections do not rescan it.
    gc.freeze()
    Server(config, state, pool, listeners).run()
    return 0


def _wsgi_pool(config: Config, state: Any, app: Any) -> Any:
    from beemo.adapters.wsgi import WSGIAdapter
    from beemo.server.workers import ThreadPool

    adapter = WSGIAdapter(app, root_path=config.root_path, multithread=config.threads > 1)
    return ThreadPool(config, state, adapter.start, adapter.connection)


def _asgi_pool(config: Config, state: Any, app: Any, interface: str) -> Any:
    from beemo.adapters.asgi import ASGIAdapter
    from beemo.adapters.lifespan import Lifespan
    from beemo.server.loops import LoopPool

    if interface == "asgi2":
        from asgiref.compatibility import guarantee_single_callable

        app = guarantee_single_callable(app)  # type: ignore[no-untyped-call]  # asgiref is untyped
    from beemo.server.websocket import AVAILABLE

    if not AVAILABLE:
        log.warning(
            "No WebSocket support: WebSocket upgrade requests get a 501 "
            "(pip install 'beemo[standard]' adds the websockets library)"
        )
    adapter = ASGIAdapter(app, root_path=config.root_path, websocket=AVAILABLE)
    lifespan = Lifespan(app, config.lifespan)
    adapter.state = lifespan.state if config.lifespan != "off" else None
    return LoopPool(config, state, adapter.run, adapter.connection, lifespan)
