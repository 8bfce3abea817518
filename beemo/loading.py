"""Find the application: "module:attr" (dotted attributes), an optional factory, its interface.

A mistake in the name (no such module, no such attribute, not callable) is an `AppLoadError`
with one clear line. An exception raised while the app's own module imports is the app's bug: it
propagates with its traceback.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from beemo.errors import AppLoadError

__all__ = ["detect_interface", "load_app"]


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
    """ "asgi" for a coroutine function or an object whose __call__ is one, else "wsgi"."""
    call = app if inspect.isroutine(app) else getattr(app, "__call__", None)  # noqa: B004
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call):
        return "asgi"
    return "wsgi"
