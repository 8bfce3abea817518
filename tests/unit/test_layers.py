"""The layering rules of STYLE.md, read from the import statements of every module in beemo/.

- Imports point down only: os <- server/events <- server/transport <- server/http <- adapters
  (a layer may skip the ones between). `beemo`, `beemo.errors` and `beemo.config` are the
  foundation every layer may import; they import no layer. The layers never import the wiring
  (server/channel, server/workers, server/listeners, cli, loading, log, ...).
- server/http is sans-I/O: no socket, select, selectors, asyncio, threading or time.
- Only beemo/os/__init__.py picks the platform (sys.platform, os.name, the `platform` module,
  $BEEMO_POLLER). The platform modules under beemo/os/<platform>/ may only assert theirs at
  module level (`assert sys.platform == "linux"`), which tells mypy --platform to skip them.
- httptools is imported only by beemo/server/http/parser.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "beemo"
LAYERS = {
    "beemo.os": 0,
    "beemo.server.events": 1,
    "beemo.server.transport": 2,
    "beemo.server.http": 3,
    "beemo.adapters": 4,
}
FOUNDATION = {"beemo", "beemo.errors", "beemo.config"}
NOT_IN_SANS_IO = {"socket", "select", "selectors", "asyncio", "threading", "_thread", "time"}
PLATFORM_CHOOSER = "beemo.os"  # the package __init__


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {
        module_name(path): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def imports(name: str, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module `name` imports (absolute names), anywhere in the file, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package(name) else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:  # `from beemo.server import http` imports a module
                yield f"{module}.{alias.name}", node.lineno


def layer(name: str) -> int | None:
    for prefix, rank in LAYERS.items():
        if name == prefix or name.startswith(prefix + "."):
            return rank
    return None


def is_beemo_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return name.split(".")[0] == "beemo" and (path.with_suffix(".py").exists() or is_package(name))


def layer_violations(name: str, tree: ast.Module) -> list[str]:
    found = []
    rank = layer(name)
    for target, line in imports(name, tree):
        if not is_beemo_module(target) or target == name:
            continue
        where = f"{name}:{line} imports {target}"
        if name in FOUNDATION:
            if target not in FOUNDATION:
                found.append(f"{where}: the foundation imports no layer")
        elif rank is not None:
            target_rank = layer(target)
            if target_rank is None and target not in FOUNDATION:
                found.append(f"{where}: a layer never imports the wiring")
            elif target_rank is not None and target_rank > rank:
                found.append(f"{where}: imports point down only")
    return found


def sans_io_violations(name: str, tree: ast.Module) -> list[str]:
    if layer(name) != LAYERS["beemo.server.http"]:
        return []
    return [
        f"{name}:{line} imports {target}"
        for target, line in imports(name, tree)
        if target.split(".")[0] in NOT_IN_SANS_IO
    ]


def module_level_platform_asserts(tree: ast.Module) -> set[int]:
    """Ids of the `sys.platform` nodes inside top-level `assert sys.platform == "..."`."""
    allowed = set()
    for node in tree.body:
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare):
            left = node.test.left
            if (
                isinstance(left, ast.Attribute)
                and left.attr == "platform"
                and isinstance(left.value, ast.Name)
                and left.value.id == "sys"
            ):
                allowed.add(id(left))
    return allowed


def platform_violations(name: str, tree: ast.Module) -> list[str]:
    if name == PLATFORM_CHOOSER:
        return []
    allowed = (
        module_level_platform_asserts(tree) if name.startswith(PLATFORM_CHOOSER + ".") else set()
    )
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            read = (node.value.id, node.attr)
            if read in (("sys", "platform"), ("os", "name")) and id(node) not in allowed:
                found.append(f"{name}:{line} reads {read[0]}.{read[1]}")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "sys"
            and any(alias.name == "platform" for alias in node.names)
        ):
            found.append(f"{name}:{line} imports sys.platform")
        elif isinstance(node, ast.Import) and any(a.name == "platform" for a in node.names):
            found.append(f"{name}:{line} imports the platform module")
        elif isinstance(node, ast.Constant) and node.value == "BEEMO_POLLER":
            found.append(f"{name}:{line} reads $BEEMO_POLLER")
    return found


def httptools_violations(name: str, tree: ast.Module) -> list[str]:
    if name == "beemo.server.http.parser":
        return []
    return [
        f"{name}:{line} imports {target}"
        for target, line in imports(name, tree)
        if target.split(".")[0] == "httptools"
    ]


CHECKS = [layer_violations, sans_io_violations, platform_violations, httptools_violations]


def test_the_package_is_found() -> None:
    names = set(modules())
    assert {"beemo.server.http.parser", "beemo.adapters.wsgi", "beemo.os"} <= names
    assert all(
        layer(name) is not None for name in ("beemo.os.contract", "beemo.server.http.connection")
    )


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_rule(check: object) -> None:
    found = [line for name, tree in modules().items() for line in check(name, tree)]  # type: ignore[operator]
    assert found == []


@pytest.mark.parametrize("check", [platform_violations, httptools_violations])
def test_the_exempt_modules_do_what_they_are_exempt_for(check: object) -> None:
    """The rule is real: the chooser reads the platform, the parser imports httptools."""
    trees = modules()
    owner = "beemo.os" if check is platform_violations else "beemo.server.http.parser"
    assert check("beemo.somewhere_else", trees[owner])  # type: ignore[operator]


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("beemo.server.http.connection", "from beemo.adapters.wsgi import WSGIAdapter"),
        ("beemo.server.http.connection", "from beemo.server.channel import Channel"),
        ("beemo.server.transport", "import beemo.server.http.messages"),
        ("beemo.os.contract", "from beemo.server import events"),
        ("beemo.server.events", "from .transport import Transport"),
        ("beemo.server.http.parser", "from ...adapters import wsgi"),
        ("beemo.errors", "from beemo.server.http import messages"),
        ("beemo.config", "from beemo.os.contract import READ"),
    ],
)
def test_wrong_way_imports_are_caught(name: str, source: str) -> None:
    assert layer_violations(name, ast.parse(source))


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("beemo.server.http.connection", "import socket"),
        ("beemo.server.http.response", "from time import monotonic"),
        ("beemo.server.http.connection", "def f():\n    import threading"),
    ],
)
def test_io_in_the_http_layer_is_caught(name: str, source: str) -> None:
    assert sans_io_violations(name, ast.parse(source))


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("beemo.server.transport", "import sys\nif sys.platform == 'win32': pass"),
        ("beemo.os.linux.epoll", "import sys\nX = 1 if sys.platform == 'linux' else 2"),
        ("beemo.server.workers", "import os\nos.environ.get('BEEMO_POLLER')"),
        ("beemo.cli", "from sys import platform"),
    ],
)
def test_platform_checks_outside_the_chooser_are_caught(name: str, source: str) -> None:
    assert platform_violations(name, ast.parse(source))


def test_a_platform_guard_in_a_platform_module_is_allowed() -> None:
    tree = ast.parse("import sys\nassert sys.platform == 'linux'")
    assert platform_violations("beemo.os.linux.epoll", tree) == []
    assert platform_violations("beemo.server.transport", tree)
