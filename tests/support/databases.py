"""Fresh databases for tests: every database test runs on SQLite and PostgreSQL.

A fresh database is a copy of a migrated template, not an empty database that
each test (or each server it starts) migrates again: PostgreSQL clones it with
``CREATE DATABASE … TEMPLATE``, SQLite copies a file. ``build_runtime`` and
``mediagate serve`` still run ``upgrade``, which finds the copy at head and
does nothing.

The templates are named after a digest of the migration scripts (and the
alembic and SQLAlchemy versions that run them), so a changed migration gets a
new template and an unchanged one is built once and reused by every xdist
worker, every later run and every worktree on the machine:

- PostgreSQL: ``mg_tpl_<digest>``, built under an advisory lock as
  ``mg_tplbuild_…`` and renamed only when migrated, so nobody clones a
  half-built one; it accepts no connections (``ALLOW_CONNECTIONS false``),
  so cloning never meets "source database is being accessed by other users"
  (retried anyway). Templates of other digests older than a day are dropped.
- SQLite: ``<tmp>/mediagate-test-templates-<uid>/<digest>.db``, written
  under another name and renamed into place.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib.metadata import version
from pathlib import Path

import psycopg
from psycopg import errors
from psycopg.rows import TupleRow

from mediagate.core.fsmodes import private_file
from mediagate.db.engine import MIGRATIONS, make_engine, upgrade

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
TEMPLATE_PREFIX = "mg_tpl_"
BUILD_PREFIX = "mg_tplbuild_"
TEMPLATE_LOCK = 7235101  # pg_advisory_lock key while a template is built (the app's own is 7235001)
TEMPLATE_MAX_AGE = 24 * 3600.0  # older templates of other digests are dropped
SQLITE_TEMPLATES = Path(tempfile.gettempdir()) / f"mediagate-test-templates-{os.getuid()}"
CLONE_ATTEMPTS = 20


@contextmanager
def fresh_database(kind: str, tmp: Path, *, migrated: bool = True) -> Iterator[str]:
    """A database of this test's own, dropped afterwards: migrated to head
    (a copy of the template), or empty with ``migrated=False`` (for a test
    that runs migrations itself)."""
    if kind == "sqlite":
        path = tmp / "mediagate.db"
        if migrated:
            copy_file(sqlite_template(), path)
        yield f"sqlite:///{path}"
        return
    assert kind == "postgresql", kind
    name = f"mg_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if migrated:
            clone(conn, name)
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


@functools.cache
def migrations_digest() -> str:
    """What a migrated database depends on: every migration script, and the
    versions of the libraries that run them."""
    h = hashlib.sha256()
    for lib in ("alembic", "sqlalchemy"):
        h.update(f"{lib}={version(lib)}\n".encode())
    for path in sorted(MIGRATIONS.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.relative_to(MIGRATIONS).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        if url.startswith("sqlite"):
            with engine.connect() as conn:
                # Everything into the main file, so that the file alone is the database.
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


# --- SQLite -----------------------------------------------------------------------------


@functools.cache
def sqlite_template() -> Path:
    """The migrated SQLite file (built on first use; see the module docstring)."""
    path = SQLITE_TEMPLATES / f"{migrations_digest()}.db"
    if path.exists():
        return path
    SQLITE_TEMPLATES.mkdir(mode=0o700, parents=True, exist_ok=True)
    build = path.with_name(f"build-{os.getpid()}-{secrets.token_hex(4)}.db")
    try:
        migrate(f"sqlite:///{build}")
        os.replace(build, path)  # atomic: a concurrent builder's file is as good as ours
    finally:
        for leftover in (build, *(build.with_name(build.name + s) for s in ("-wal", "-shm"))):
            with suppress(FileNotFoundError):
                leftover.unlink()
    _prune_sqlite_templates(keep=path)
    return path


def _prune_sqlite_templates(keep: Path) -> None:
    cutoff = time.time() - TEMPLATE_MAX_AGE
    for other in SQLITE_TEMPLATES.iterdir():
        with suppress(FileNotFoundError):
            if other != keep and other.stat().st_mtime < cutoff:
                other.unlink()


def copy_file(template: Path, dest: Path) -> None:
    """A copy of the template, private (0600) from the start like the file mediagate creates."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    private_file(dest)
    shutil.copyfile(template, dest)


# --- PostgreSQL -------------------------------------------------------------------------


def clone(conn: psycopg.Connection[TupleRow], name: str) -> None:
    """``CREATE DATABASE name TEMPLATE <the migrated template>``."""
    for attempt in range(CLONE_ATTEMPTS):
        template = pg_template()
        try:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return
        except errors.ObjectInUse:
            # "source database … is being accessed by other users": the template
            # takes no connections, but keep going should one slip in (a superuser's psql).
            if attempt == CLONE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
        except errors.InvalidCatalogName:
            # Dropped meanwhile by another checkout's prune (after a day): build it again.
            pg_template.cache_clear()
    raise AssertionError("unreachable")


@functools.cache
def pg_template() -> str:
    """The migrated PostgreSQL template's name (built on first use; see the module docstring)."""
    name = f"{TEMPLATE_PREFIX}{migrations_digest()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if _exists(conn, name):
            return name
        conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK,))
        try:
            if _exists(conn, name):  # another worker built it while we waited
                return name
            _prune_pg(conn)
            build = f"{BUILD_PREFIX}{secrets.token_hex(6)}"
            conn.execute(f'CREATE DATABASE "{build}"')
            try:
                migrate(pg_url(build))
                conn.execute(f'ALTER DATABASE "{build}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
                conn.execute(f"COMMENT ON DATABASE \"{build}\" IS 'built {time.time():.0f}'")
                conn.execute(f'ALTER DATABASE "{build}" RENAME TO "{name}"')
            except BaseException:
                conn.execute(f'DROP DATABASE IF EXISTS "{build}" WITH (FORCE)')
                raise
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK,))
    return name


def _exists(conn: psycopg.Connection[TupleRow], name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _prune_pg(conn: psycopg.Connection[TupleRow]) -> None:
    """Under the lock: build databases left by a killed run, and other digests' old templates."""
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname LIKE 'mg\\_tpl%'"
    ).fetchall()
    cutoff = time.time() - TEMPLATE_MAX_AGE
    for datname, comment in rows:
        assert isinstance(datname, str)
        if datname.startswith(TEMPLATE_PREFIX):
            built = str(comment or "built 0").removeprefix("built ")
            if not built.isdigit() or float(built) >= cutoff:
                continue
            conn.execute(f'ALTER DATABASE "{datname}" WITH IS_TEMPLATE false')
        elif not datname.startswith(BUILD_PREFIX):
            continue
        conn.execute(f'DROP DATABASE IF EXISTS "{datname}" WITH (FORCE)')
