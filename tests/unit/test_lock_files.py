"""requirements/*.txt (written by `make lock`) in step with pyproject.toml.

The Makefile installs a lock with ``--no-deps``: a dependency added to
pyproject.toml without `make lock` would simply be missing, and a tightened
range would go unnoticed. Offline, so it runs in every `make test`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Each lock and the pyproject.toml extras it holds.
LOCKS = {"run": (), "dev": ("dev",), "bench": ("dev", "bench")}
# The server's own process never needs these: `make run` must not install them.
NOT_FOR_RUN = {"pytest", "mypy", "ruff", "hypothesis", "schemathesis", "playwright", "matplotlib", "uvicorn"}


def pins(lock: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "requirements" / f"{lock}.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        req = Requirement(text)
        [spec] = req.specifier  # exact pins only: one "==" each
        assert spec.operator == "==", line
        found[canonicalize_name(req.name)] = spec.version
    return found


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize("lock", LOCKS)
def test_each_lock_pins_every_declared_dependency_within_its_range(lock: str) -> None:
    pinned = pins(lock)
    for req in declared(LOCKS[lock]):
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in requirements/{lock}.txt: run `make lock`"
        version = pinned[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements/{lock}.txt pins {req.name}=={version} outside {req.specifier}: run `make lock`"
        )


def test_a_package_has_one_version_in_every_lock() -> None:
    bench = pins("bench")
    for lock in ("run", "dev"):
        for name, version in pins(lock).items():
            assert bench.get(name) == version, (lock, name, version, bench.get(name))


def test_the_run_lock_holds_only_what_the_server_needs() -> None:
    assert NOT_FOR_RUN.isdisjoint(pins("run")), NOT_FOR_RUN & set(pins("run"))
