"""The (database, storage) shapes a test that needs both runs on.

Every database test runs on SQLite and PostgreSQL, every storage test on
local files and S3, but not every pair: S3 runs with PostgreSQL only. That is
the scale-out shape (several machines share an object store and need a
shared database), the S3 code below the services does not depend on the
database, and SQLite + S3 is no deployment anyone scales with. The fourth
pair cost a quarter of these modules' time for no path of its own.
"""

from __future__ import annotations

SHAPES: list[tuple[str, str]] = [("sqlite", "local"), ("postgresql", "local"), ("postgresql", "s3")]


def shapes(storages: tuple[str, ...] = ("local", "s3")) -> list[tuple[str, str]]:
    """``SHAPES`` restricted to the given storage backends."""
    return [(db, storage) for db, storage in SHAPES if storage in storages]


def shape_id(shape: tuple[str, str]) -> str:
    db, storage = shape
    return db if storage == "local" else f"{db}-{storage}"
