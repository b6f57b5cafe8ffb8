"""Recognising "the database is unavailable" (one check for every caller).

An outage, a stall that ran into ``statement_timeout``/``lock_timeout``, a
refused or dropped connection, an exhausted pool, SQLite's "database is
locked" after its busy timeout: all of these mean *retry later*, not *we have
a bug*. The app's exception handler answers them with 503 + ``Retry-After``;
readiness checks and background workers use the same predicate.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# Seconds a client is told to wait after a 503 caused by the database.
RETRY_AFTER = 5

# Exceptions the exception handler maps to 503 (registered by class, so that
# Starlette's ExceptionMiddleware answers them without re-raising).
UNAVAILABLE_TYPES: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,  # connection refused/dropped, statement/lock timeout, SQLite busy
    sa_exc.InterfaceError,  # a connection closed underneath the driver
    sa_exc.TimeoutError,  # QueuePool: no connection free within the pool timeout
    sa_exc.DisconnectionError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) says the database cannot answer now."""
    if isinstance(exc, UNAVAILABLE_TYPES):
        return True
    # Any DBAPI error SQLAlchemy recognised as a lost connection.
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)
