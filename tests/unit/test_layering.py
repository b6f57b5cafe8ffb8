"""The allowed dependencies between the parts (docs/architecture.md), checked on the source.

Every import counts, wherever it is written: at the top, inside a function, or
under ``TYPE_CHECKING`` (a type-only import still ties a module to the layer it names).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mediagate

SRC = Path(mediagate.__file__).parent

# (the importing layer, what it must not import, why)
HTTP_LAYERS = ("mediagate.api", "mediagate.console", "mediagate.edge", "mediagate.serving")
RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    *(
        (
            layer,
            ("mediagate.db.models", "mediagate.storage"),
            "HTTP gets records from services, never rows or bytes",
        )
        for layer in HTTP_LAYERS
    ),
    (
        "mediagate.services",
        ("starlette.requests", "starlette.responses", "starlette.routing"),
        "services take values, not requests, and return records, not responses",
    ),
    ("mediagate.services", HTTP_LAYERS, "services are below every HTTP part"),
    ("mediagate.storage", ("mediagate.services",), "storage is below services"),
)

# Violations allowed for now (none today; edge/ had three until it read bytes through services.media).
# The list may only shrink: test_known_violations_are_still_real fails on an entry
# that no longer is one, so fixing a violation means deleting its line here.
KNOWN: frozenset[tuple[str, str]] = frozenset()  # none left: the edge reads bytes through services.media


def module_name(path: Path) -> str:
    parts = ["mediagate", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, source: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports; ``from a import b`` counts as ``a`` and ``a.b``
    (``b`` may be a submodule: ``from mediagate.db import models``)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(module: str, source: str, *, is_package: bool = False) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    names = imported(module, source, is_package=is_package)
    for layer, forbidden, _why in RULES:
        if not _within(module, layer):
            continue
        for prefix in forbidden:
            if any(_within(name, prefix) for name in names):
                out.add((module, prefix))
    return out


def all_violations() -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for path in sorted(SRC.rglob("*.py")):
        out |= violations(module_name(path), path.read_text(), is_package=path.name == "__init__.py")
    return out


def test_the_scan_sees_every_layer() -> None:
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    for layer in {rule[0] for rule in RULES}:
        assert sum(_within(m, layer) for m in modules) >= 3, layer
    assert "mediagate.api.representations" in modules
    assert "mediagate.carriers" in modules  # a package's __init__ is the package


def test_no_module_breaks_the_layering() -> None:
    new = sorted(all_violations() - KNOWN)
    assert new == [], "\n".join(f"{m} imports {p}" for m, p in new)


def test_known_violations_are_still_real() -> None:
    stale = sorted(KNOWN - all_violations())
    assert stale == [], f"no longer violations, remove them from KNOWN: {stale}"
    assert all(_within(m, "mediagate.edge") for m, _ in KNOWN), "KNOWN is for edge/ only"


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
        ("mediagate.api.x", "from mediagate import storage", ("mediagate.api.x", "mediagate.storage")),
        ("mediagate.api.x", "from ..storage import Blob", ("mediagate.api.x", "mediagate.storage")),
        (
            "mediagate.api.x",
            "if TYPE_CHECKING:\n    from mediagate.db.models import Account\n",
            ("mediagate.api.x", "mediagate.db.models"),
        ),
        (
            "mediagate.services.x",
            "def f():\n    from starlette.requests import Request\n",
            ("mediagate.services.x", "starlette.requests"),
        ),
        (
            "mediagate.services.x",
            "from starlette import responses",
            ("mediagate.services.x", "starlette.responses"),
        ),
        (
            "mediagate.storage.x",
            "from mediagate.services import quotas",
            ("mediagate.storage.x", "mediagate.services"),
        ),
        (
            "mediagate.storage.x",
            "from ..services.records import MediaRecord",
            ("mediagate.storage.x", "mediagate.services"),
        ),
    ],
)
def test_a_forbidden_import_is_caught(module: str, source: str, broken: tuple[str, str]) -> None:
    assert violations(module, source) == {broken}


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("mediagate.api.x", "from mediagate.services.records import MediaRecord"),
        ("mediagate.api.x", "import mediagate.storage_notes"),  # a prefix is not a package
        ("mediagate.console.x", "from mediagate.db.engine import engine_for"),
        ("mediagate.services.x", "import httpx\nfrom starlette.concurrency import run_in_threadpool"),
        ("mediagate.services.x", "from mediagate.db.models import Media\nfrom mediagate.storage import Blob"),
        ("mediagate.storage.x", "from mediagate.storage.base import Blob"),
        ("mediagate.db.x", "from mediagate.services import quotas"),  # no rule for db/ here
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert violations(module, source) == set()


def test_a_package_resolves_its_relative_imports_from_itself() -> None:
    assert imported("mediagate.storage", "from .base import Blob", is_package=True) >= {
        "mediagate.storage.base"
    }
    assert imported("mediagate.storage.local", "from .base import Blob") >= {"mediagate.storage.base"}
