"""The parts of the tree and what each may import (docs/architecture.md), checked on the source.

Every import counts, wherever it is written: at the top, inside a function, or
under ``TYPE_CHECKING`` (a type-only import still ties a module to the part it
names). One exception: ``mediagate.runtime.context`` may be named for types
anywhere, since every service takes the runtime as its first argument.

Three checks:
* each top-level part imports only the parts below it (``ALLOWED``);
* no import cycle among executed imports (function-level included,
  ``TYPE_CHECKING`` excluded): a cycle is two modules that cannot be read
  apart;
* the adapters (HTTP, console, edge, serving, CLI, carriers) reach neither the
  database nor the store through the runtime (``rt.sessions``, ``rt.tx``,
  ``rt.engine``, ``rt.store``): they call services.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mediagate

SRC = Path(mediagate.__file__).parent

FOUNDATION = {"core"}
INFRA = FOUNDATION | {"db", "storage", "observability"}
FEATURES = {"accounts", "media", "messaging", "webhooks", "retention", "testmode"}
BELOW_RUNTIME = INFRA | {"cluster"} | FEATURES | {"carriers"}
HTTP_PARTS = {"http", "api", "console", "edge"}

# part -> the parts it may import (itself always). Bottom to top.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "db": {"core"},
    "storage": {"core"},
    "observability": {"core", "db", "storage"},
    "cluster": INFRA,
    # The features use each other (a message has media; media counts against a quota).
    **{feature: INFRA | {"cluster"} | FEATURES for feature in FEATURES},
    "carriers": INFRA | {"cluster"} | FEATURES,
    "runtime": BELOW_RUNTIME,
    **{part: BELOW_RUNTIME | {"runtime"} | HTTP_PARTS for part in HTTP_PARTS},
    "serving": BELOW_RUNTIME | {"runtime"} | HTTP_PARTS,
    "cli": BELOW_RUNTIME | {"runtime"} | HTTP_PARTS | {"serving"},
}
# Rows and bytes stay below the features: what the adapters get are records.
ROWS_AND_BYTES = ("mediagate.db.models", "mediagate.db.engine", "mediagate.storage")
ADAPTERS = HTTP_PARTS | {"serving", "cli", "carriers"}
# The runtime's handles on the database and the store.
RAW_HANDLES = frozenset(("sessions", "tx", "engine", "store"))
# The composition root wires error counting onto the engine and the store, and
# maps the store's errors to answers.
COMPOSITION_ROOT = "mediagate.http.app"
TYPE_ANYWHERE = "mediagate.runtime.context"
# Below the HTTP parts nothing takes a request or returns a response.
NO_HTTP = FOUNDATION | {"db", "storage", "cluster", "carriers", "runtime"} | FEATURES
HTTP_OBJECTS = ("starlette.requests", "starlette.responses", "starlette.routing")


def module_name(path: Path) -> str:
    parts = ["mediagate", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(
    module: str, source: str, *, is_package: bool = False, known: set[str] | None = None
) -> tuple[set[str], set[str]]:
    """(executed, type-only) imports of ``source``; ``from a import b`` counts as
    ``a`` and ``a.b`` (``b`` may be a submodule: ``from mediagate.db import models``).
    With ``known`` (the modules that exist), ``from a import b`` counts as ``a.b``
    alone when that is a module: the edge is to the submodule, not to the package's face."""
    package = module if is_package else module.rpartition(".")[0]
    executed: set[str] = set()
    type_only: set[str] = set()

    def names(node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            return {alias.name for alias in node.names}
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        if known is not None:
            return {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
        return {base} | {f"{base}.{alias.name}" for alias in node.names}

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (type_only if typing_only else executed).update(names(child))
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.body:
                    visit_stmt(sub, True)
                for sub in child.orelse:
                    visit_stmt(sub, typing_only)
            else:
                visit(child, typing_only)

    def visit_stmt(stmt: ast.stmt, typing_only: bool) -> None:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            (type_only if typing_only else executed).update(names(stmt))
        else:
            visit(stmt, typing_only)

    visit(ast.parse(source), False)
    return executed, type_only - executed


def _mediagate(names: set[str]) -> set[str]:
    return {n for n in names if n == "mediagate" or n.startswith("mediagate.")}


def violations(module: str, source: str, *, is_package: bool = False) -> set[tuple[str, str]]:
    """(module, what it must not import) pairs."""
    executed, type_only = imports(module, source, is_package=is_package)
    part = part_of(module)
    out: set[tuple[str, str]] = set()
    everything = _mediagate(executed) | {
        n for n in _mediagate(type_only) if n != TYPE_ANYWHERE and not n.startswith(TYPE_ANYWHERE + ".")
    }
    allowed = ALLOWED.get(part)
    for name in everything:
        target = part_of(name)
        if not target or target == part or target not in ALLOWED:
            continue  # the package itself (``from mediagate import __version__``), or a module at the root
        if allowed is not None and target not in allowed:
            out.add((module, f"mediagate.{target}"))
    if part in ADAPTERS and module != COMPOSITION_ROOT:
        for prefix in ROWS_AND_BYTES:
            if any(n == prefix or n.startswith(prefix + ".") for n in executed | type_only):
                out.add((module, prefix))
    if part in NO_HTTP and any(n.startswith(HTTP_OBJECTS) for n in executed | type_only):
        out.add((module, "starlette"))
    return out


def raw_handles(module: str, source: str) -> set[tuple[str, str]]:
    """``x.sessions`` / ``x.tx`` / ``x.engine`` / ``x.store`` read by an adapter."""
    if part_of(module) not in ADAPTERS or module == COMPOSITION_ROOT:
        return set()
    return {
        (module, f".{node.attr}")
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in RAW_HANDLES
    }


def _sources() -> list[tuple[str, Path]]:
    return [
        (module_name(p), p) for p in sorted(SRC.rglob("*.py")) if "migrations" not in p.relative_to(SRC).parts
    ]


def import_graph() -> dict[str, set[str]]:
    """Executed imports between mediagate modules, each resolved to the module it names."""
    sources = _sources()
    known = {name for name, _ in sources}
    graph: dict[str, set[str]] = {}
    for name, path in sources:
        executed, _ = imports(name, path.read_text(), is_package=path.name == "__init__.py", known=known)
        targets: set[str] = set()
        for imp in _mediagate(executed):
            while imp and imp not in known:
                imp = imp.rpartition(".")[0]
            if imp and imp != name and imp != "mediagate":
                targets.add(imp)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_part_has_a_rule() -> None:
    parts = {part_of(name) for name, path in _sources() if path.parent != SRC}
    assert parts - set(ALLOWED) == set(), "a new top-level part needs its line in ALLOWED"
    loose = sorted(p.name for p in SRC.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules belong to a part, not the package root: {loose}"
    assert "mediagate.api.representations" in {name for name, _ in _sources()}


def test_no_module_breaks_the_layering() -> None:
    found = set()
    for name, path in _sources():
        found |= violations(name, path.read_text(), is_package=path.name == "__init__.py")
    assert sorted(found) == [], "\n".join(f"{m} imports {p}" for m, p in sorted(found))


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_adapters_call_services_for_the_database_and_the_store() -> None:
    found = set()
    for name, path in _sources():
        found |= raw_handles(name, path.read_text())
    assert sorted(found) == [], "\n".join(f"{m} reads runtime{a}" for m, a in sorted(found))


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        (
            "mediagate.api.x",
            "from mediagate.db.models import Media",
            ("mediagate.api.x", "mediagate.db.models"),
        ),
        (
            "mediagate.console.x",
            "from mediagate.db import models",
            ("mediagate.console.x", "mediagate.db.models"),
        ),
        ("mediagate.edge.x", "import mediagate.storage.local", ("mediagate.edge.x", "mediagate.storage")),
        ("mediagate.api.x", "from ..storage import Blob", ("mediagate.api.x", "mediagate.storage")),
        (
            "mediagate.api.x",
            "if TYPE_CHECKING:\n    from mediagate.db.models import Account\n",
            ("mediagate.api.x", "mediagate.db.models"),
        ),
        (
            "mediagate.media.x",
            "def f():\n    from starlette.requests import Request\n",
            ("mediagate.media.x", "starlette"),
        ),
        ("mediagate.media.x", "from mediagate.api import media", ("mediagate.media.x", "mediagate.api")),
        (
            "mediagate.storage.x",
            "from mediagate.media import quotas",
            ("mediagate.storage.x", "mediagate.media"),
        ),
        ("mediagate.core.x", "from mediagate.db import failures", ("mediagate.core.x", "mediagate.db")),
        (
            "mediagate.carriers.x",
            "from mediagate.db.models import Message",
            ("mediagate.carriers.x", "mediagate.db.models"),
        ),
        (
            "mediagate.media.x",
            "from mediagate.runtime import background",
            ("mediagate.media.x", "mediagate.runtime"),
        ),
        # Naming the runtime for a type is allowed anywhere; importing it to run is not.
        (
            "mediagate.media.x",
            "from mediagate.runtime.context import build_runtime",
            ("mediagate.media.x", "mediagate.runtime"),
        ),
        # The composition root's exception is that one module, not its part.
        ("mediagate.http.x", "from mediagate.storage import Blob", ("mediagate.http.x", "mediagate.storage")),
        # One upward step per line of the table (docs/architecture.md).
        ("mediagate.db.x", "from mediagate.storage import base", ("mediagate.db.x", "mediagate.storage")),
        (
            "mediagate.observability.x",
            "from mediagate.cluster import invalidation",
            ("mediagate.observability.x", "mediagate.cluster"),
        ),
        (
            "mediagate.cluster.x",
            "from mediagate.accounts import keys",
            ("mediagate.cluster.x", "mediagate.accounts"),
        ),
        (
            "mediagate.messaging.x",
            "from mediagate.carriers import base",
            ("mediagate.messaging.x", "mediagate.carriers"),
        ),
        (
            "mediagate.carriers.x",
            "from mediagate.runtime import background",
            ("mediagate.carriers.x", "mediagate.runtime"),
        ),
        ("mediagate.runtime.x", "from mediagate.http import app", ("mediagate.runtime.x", "mediagate.http")),
        ("mediagate.api.x", "from mediagate.serving import fast", ("mediagate.api.x", "mediagate.serving")),
        ("mediagate.serving.x", "from mediagate.cli import main", ("mediagate.serving.x", "mediagate.cli")),
        ("mediagate.storage.x", "from mediagate.db import models", ("mediagate.storage.x", "mediagate.db")),
        # No request or response below the HTTP parts, the runtime and the carriers included.
        (
            "mediagate.runtime.x",
            "from starlette.responses import Response",
            ("mediagate.runtime.x", "starlette"),
        ),
        ("mediagate.carriers.x", "import starlette.requests", ("mediagate.carriers.x", "starlette")),
    ],
)
def test_a_forbidden_import_is_caught(module: str, source: str, broken: tuple[str, str]) -> None:
    assert violations(module, source) == {broken}


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("mediagate.api.x", "from mediagate.db.records import MediaRecord"),
        ("mediagate.media.x", "if TYPE_CHECKING:\n    from mediagate.runtime.context import Runtime\n"),
        ("mediagate.media.x", "import httpx\nfrom starlette.concurrency import run_in_threadpool"),
        ("mediagate.media.x", "from mediagate.db.models import Media\nfrom mediagate.storage import Blob"),
        ("mediagate.storage.x", "from mediagate.storage.base import Blob"),
        ("mediagate.http.app", "from mediagate.storage import Blob"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert violations(module, source) == set()


def test_a_cycle_is_found_however_it_is_written() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    executed, type_only = imports("mediagate.x.y", "def f():\n    from mediagate.x import z\n")
    assert "mediagate.x.z" in executed
    executed, type_only = imports("mediagate.x.y", "if TYPE_CHECKING:\n    from mediagate.x import z\n")
    assert "mediagate.x.z" in type_only and "mediagate.x.z" not in executed


def test_an_adapter_reading_the_store_is_caught() -> None:
    assert raw_handles("mediagate.carriers.x", "def f(rt):\n    rt.store.put(1)\n") == {
        ("mediagate.carriers.x", ".store")
    }
    assert raw_handles("mediagate.media.x", "def f(rt):\n    rt.store.put(1)\n") == set()
    assert raw_handles("mediagate.http.x", "def f(rt):\n    rt.engine.dispose()\n") == {
        ("mediagate.http.x", ".engine")
    }
    assert raw_handles(COMPOSITION_ROOT, "def f(rt):\n    rt.engine.dispose()\n") == set()
