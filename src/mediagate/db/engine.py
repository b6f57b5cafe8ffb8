"""Engine creation and schema migration.

SQLite runs in WAL mode with a busy timeout so that the threadpool's
concurrent readers never block on the single writer; PostgreSQL gets a
pooled psycopg 3 engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from mediagate.fsmodes import private_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    # Users write the URL their other tools take; we pin the psycopg 3 driver.
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str) -> Engine:
    """``hide_parameters``: a database error's text (which reaches the log and,
    before, 500 tracebacks) must not carry the bound values: token hashes,
    sealed tokens, message bodies, phone numbers."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            private_sqlite(Path(path))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # No pool_pre_ping: it costs a round trip per checkout, i.e. per request on
    # the hot paths; connections are recycled instead, and a dead one fails a
    # single request and is replaced.
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=300, hide_parameters=True)


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
        if conn.dialect.name == "postgresql":
            # Several server processes may start at once against one database.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7235001)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
