"""Finding the app: MODULE:ATTR, defaults, factories, one-line AppLoadErrors, the interface."""

from __future__ import annotations

import functools
import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from beemo.errors import AppLoadError
from beemo.loading import detect_interface, load_app

_numbers = itertools.count()

SOURCE = """
def application(environ, start_response):
    return []

def app(environ, start_response):
    return []

class Holder:
    def inner(self, environ, start_response):
        return []

holder = Holder()
not_callable = 42

def make_app():
    return application

def make_nothing():
    return "not an app"
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write a uniquely named module on sys.path; returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def write(source: str = SOURCE) -> str:
        name = f"beemo_test_app_{next(_numbers)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


def load_error(spec: str, factory: bool = False) -> str:
    with pytest.raises(AppLoadError) as caught:
        load_app(spec, factory)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def test_module_and_attribute(module: Callable[..., str]) -> None:
    name = module()
    loaded = sys.modules.get(name) or __import__(name)
    assert load_app(f"{name}:app") is loaded.app
    assert load_app(f"{name}:application") is loaded.application
    assert load_app(f"{name}:holder.inner") == loaded.holder.inner


def test_attribute_defaults_to_application_then_app(module: Callable[..., str]) -> None:
    name = module()
    assert load_app(name) is sys.modules[name].application
    only_app = module("def app(environ, start_response):\n    return []\n")
    assert load_app(only_app) is sys.modules[only_app].app


def test_a_factory_is_called(module: Callable[..., str]) -> None:
    name = module()
    assert load_app(f"{name}:make_app", factory=True) is sys.modules[name].application


@pytest.mark.parametrize(
    ("spec", "factory", "mentions"),
    [
        ("no_such_module_for_beemo:app", False, "no_such_module_for_beemo"),
        ("no_such_package_for_beemo.sub:app", False, "no_such_package_for_beemo"),
        ("json.no_such_submodule:app", False, "json.no_such_submodule"),
        ("json:no_such_attribute", False, "no_such_attribute"),
        ("json:decoder.NoSuchClass", False, "json.decoder"),
        ("json:__name__", False, "not callable"),
        ("json:decoder", False, "not callable"),
        ("json", False, "app"),  # neither "application" nor "app"
        ("", False, "MODULE:ATTRIBUTE"),
        (":app", False, "MODULE:ATTRIBUTE"),
        ("json:", False, "MODULE:ATTRIBUTE"),
    ],
)
def test_load_errors(spec: str, factory: bool, mentions: str) -> None:
    assert mentions in load_error(spec, factory)


def test_factory_errors(module: Callable[..., str]) -> None:
    name = module()
    assert "not callable" in load_error(f"{name}:not_callable", factory=True)
    assert "not callable" in load_error(f"{name}:make_nothing", factory=True)
    assert "not callable" in load_error(f"{name}:not_callable")


def test_errors_inside_the_app_module_propagate(module: Callable[..., str]) -> None:
    """The app's own bugs keep their traceback: they are not load errors."""
    broken = module("raise RuntimeError('the app module is broken')\n")
    with pytest.raises(RuntimeError, match="broken"):
        load_app(f"{broken}:app")
    missing_dependency = module("import no_such_dependency_for_beemo\n")
    with pytest.raises(ModuleNotFoundError) as caught:
        load_app(f"{missing_dependency}:app")
    assert not isinstance(caught.value, AppLoadError)


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    pass


def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    return []


class AsgiObject:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        pass


class WsgiObject:
    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return []

    async def method(self, scope: Any, receive: Any, send: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("app", "interface"),
    [
        (wsgi_app, "wsgi"),
        (asgi_app, "asgi"),
        (AsgiObject(), "asgi"),
        (WsgiObject(), "wsgi"),
        (WsgiObject().method, "asgi"),
        (functools.partial(asgi_app, {}), "asgi"),
        (functools.partial(wsgi_app, {}), "wsgi"),
        (lambda environ, start_response: [], "wsgi"),
    ],
)
def test_detect_interface(app: object, interface: str) -> None:
    assert detect_interface(app) == interface
