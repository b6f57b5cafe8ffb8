"""Every rule reads the runtime's clock (core/clock.py), not the wall clock: a module
that starts calling ``time.time()``, ``datetime.now()`` and the like fails here
unless it is one of the few whose time must stay the real one, each with its
reason. Elapsed-time reads (``time.monotonic``, ``time.perf_counter``) are not
wall-clock reads and are not listed."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mediagate"

# (module name, function) -> why the wall clock is right there. Keyed by the
# module's name, not its path, so moving modules between packages keeps it valid.
ALLOWED = {
    ("clock", "now"): "SystemClock itself",
    ("clock", "time"): "SystemClock itself",
    ("clock", "__init__"): "ManualClock() starts at the wall clock's time",
    ("timefmt", "utcnow"): "the wall clock for tests and tools; no rule calls it",
    ("maintenance", "collect_garbage"): "compared with file and upload times the store wrote",
    ("ratelimit", "retry_after"): "the console's sign-in limits: the limits library's own wall-clock windows",
    ("credential_views", "take"): "the console's check limit: the limits library's own wall-clock windows",
    ("lines", "emit_values"): "log lines carry the real time, to be read beside other systems' logs",
    ("lines", "flush"): "log lines carry the real time, to be read beside other systems' logs",
}

WALL_CLOCK = {("time", "time"), ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today")}
WALL_CLOCK |= {("date", "today"), ("func", "now"), ("time", "time_ns")}


def _wall_clock_reads(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of each wall-clock call in one module."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call):
                f = child.func
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                    if (f.value.id, f.attr) in WALL_CLOCK:
                        found.append((function, child.lineno))
                elif isinstance(f, ast.Name) and f.id == "utcnow":
                    found.append((function, child.lineno))
            visit(child, inner)

    visit(tree, "<module>")
    return found


def test_only_the_listed_places_read_the_wall_clock() -> None:
    unexpected = [
        f"{path.relative_to(SRC)}:{line} in {function}()"
        for path in sorted(SRC.rglob("*.py"))
        for function, line in _wall_clock_reads(path)
        if (path.stem, function) not in ALLOWED
    ]
    assert not unexpected, "read the runtime's clock (rt.clock) instead of the wall clock: " + ", ".join(
        unexpected
    )


def test_the_scanner_finds_each_spelling(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import time\nfrom datetime import datetime, date\n"
        "def a():\n    return time.time()\n"
        "def b():\n    return datetime.now()\n"
        "def c():\n    return utcnow() and date.today() and func.now()\n"
        "def d():\n    return time.monotonic() + time.perf_counter()\n"
    )
    assert _wall_clock_reads(module) == [("a", 4), ("b", 6), ("c", 8), ("c", 8), ("c", 8)]
