"""Engine creation and schema migration.

SQLite runs in WAL mode with a busy timeout so that the threadpool's
concurrent readers never block on the single writer; PostgreSQL gets a
pooled psycopg 3 engine. Both have bounded waits (see ``make_engine``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from mediagate.core.fsmodes import private_sqlite
from mediagate.core.settings import Settings
from mediagate.db.watchdog import NO_DEADLINE, StatementWatchdog

MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    # Users write the URL their other tools take; we pin the psycopg 3 driver.
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(
    url: str,
    *,
    statement_timeout: float = 5.0,
    connect_timeout: float = 5.0,
    pool_timeout: float = 5.0,
) -> Engine:
    """An engine on which no wait is unbounded: a stalled database makes a
    statement fail after ``statement_timeout`` seconds (PostgreSQL
    ``statement_timeout`` and ``lock_timeout``, SQLite's busy timeout), an
    unreachable one after ``connect_timeout``, a drained pool after
    ``pool_timeout``, and a statement the server never answers after a client-side
    deadline (``db/watchdog.py``). ``mediagate.db.failures`` recognises the errors.

    ``hide_parameters``: a database error's text (which reaches the log and,
    before, 500 tracebacks) must not carry the bound values: token hashes,
    sealed tokens, message bodies, phone numbers."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            private_sqlite(Path(path))
        busy_ms = int(statement_timeout * 1000)
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": statement_timeout},
            pool_timeout=pool_timeout,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        return engine
    ms = max(int(statement_timeout * 1000), 1)
    # No pool_pre_ping: it costs a round trip per checkout, i.e. per request on
    # the hot paths; connections are recycled instead, and a dead one fails a
    # single request (503) and the pool is invalidated and refilled.
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_recycle=300,
        hide_parameters=True,
        pool_timeout=pool_timeout,
        connect_args={
            "connect_timeout": max(round(connect_timeout), 1),  # libpq takes whole seconds
            "options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
        },
    )
    # The server's timeouts bound what it runs; the watchdog what it never saw
    # (db/watchdog.py), a little later so that the server's own error comes first.
    StatementWatchdog(statement_timeout + max(2.0, statement_timeout)).attach(engine)
    return engine


def engine_for(settings: Settings) -> Engine:
    return make_engine(
        settings.database_url,
        statement_timeout=settings.db_statement_timeout,
        connect_timeout=settings.db_connect_timeout,
        pool_timeout=settings.db_pool_timeout,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        conn.execution_options(**{NO_DEADLINE: True})
        if conn.dialect.name == "postgresql":
            # Migrations may legitimately wait for locks and run long: lift the
            # request-path timeouts for this transaction only.
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
            # Several server processes may start at once against one database.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7235001)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
