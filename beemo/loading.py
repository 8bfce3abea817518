"""Find the application: "module:attr" (dotted attributes), an optional factory, its interface.

A mistake in the name (no such module, no such attribute, not callable) is an `AppLoadError`
with one clear line. An exception raised while the app's own module imports is the app's bug: it
propagates with its traceback.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from beemo.errors import AppLoadError

__all__ = ["detect_interface", "load_app", "resolve_interface"]


def load_app(spec: str, factory: bool = False) -> Any:
    """Import and return the app named by `spec` ("module:attr"; attr defaults to
    "application", then "app", as gunicorn does for Django's wsgi.py)."""
    module_name, _, attrs = spec.partition(":")
    if not module_name or (":" in spec and not attrs):
        raise AppLoadError(f"bad app {spec!r}: expected MODULE:ATTRIBUTE, e.g. main:app")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise AppLoadError(
                f"cannot import module {module_name!r}: no module named {missing!r}"
            ) from None
        raise
    names = attrs.split(".") if attrs else None
    if names is None:
        names = ["application"] if hasattr(module, "application") else ["app"]
    app: Any = module
    for depth, name in enumerate(names):
        try:
            app = getattr(app, name)
        except AttributeError:
            where = ".".join([module_name] + names[:depth])
            raise AppLoadError(f"{where!r} has no attribute {name!r}") from None
    if factory:
        if not callable(app):
            raise AppLoadError(f"app factory {spec!r} is not callable")
        app = app()
    if not callable(app):
        raise AppLoadError(f"{spec!r} is not callable (got {type(app).__name__})")
    return app


def detect_interface(app: Any) -> str:
    """The interface `app` implements: "asgi" (ASGI 3: a coroutine function, or an object whose
    __call__ is one), "asgi2" (a class whose instances take receive and send, asgiref's
    "double callable"), else "wsgi"."""
    # The class test comes first: a class's `__call__` attribute is its instances' method, so
    # an ASGI 2 class would otherwise pass for an ASGI 3 object.
    if inspect.isclass(app) and inspect.iscoroutinefunction(getattr(app, "__call__", None)):  # noqa: B004
        return "asgi2"
    if _is_coroutine_callable(app):
        return "asgi"
    return "wsgi"


def resolve_interface(app: Any, spec: str, requested: str) -> str:
    """The interface to serve `app` with: `requested`, or the detected one for "auto".

    Raises:
        AppLoadError: the app cannot be the interface asked for (one clear line).
    """
    detected = detect_interface(app)
    if requested == "auto" or requested == detected:
        return detected
    names = {"asgi": "an ASGI 3", "asgi2": "an ASGI 2", "wsgi": "a WSGI"}
    if requested == "wsgi" or detected != "wsgi" or _positional_arity(app) == 2:
        raise AppLoadError(
            f"{spec} looks like {names[detected]} app, not {names[requested]} one: "
            f"drop --interface (auto) or use --interface {detected}"
        )
    return requested  # an ASGI app Beemo cannot tell apart (a sync __call__ that returns one)


def _is_coroutine_callable(app: Any) -> bool:
    call = app if inspect.isroutine(app) else getattr(app, "__call__", None)  # noqa: B004
    while isinstance(call, functools.partial):
        call = call.func
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call)


def _positional_arity(app: Any) -> int:
    """How many positional arguments `app` takes, -1 when that cannot be read."""
    try:
        parameters = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return -1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for parameter in parameters if parameter.kind in kinds)
