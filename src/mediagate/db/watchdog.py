"""A client-side deadline for PostgreSQL statements.

``statement_timeout`` is enforced by the database server, so it bounds a
statement only if the server runs it. A server that stops answering on a
connection we already hold (a stopped or wedged backend, a proxy that holds
the connection open and forwards nothing) never sees the query, and the
request waited as long as the socket stayed open: for ever. The kernel's
keepalives and ``tcp_user_timeout`` cannot tell, since the peer's TCP stack
still acknowledges everything.

The watchdog remembers when each statement started (two dict operations per
statement, around the driver's execute) and shuts down the socket of one
that is still running ``grace`` seconds after the server's own timeout would
have fired. The blocked driver call then fails like any dropped connection
(``OperationalError``): the request answers 503 + Retry-After, SQLAlchemy
invalidates the pool, and the next checkout opens a fresh connection (which
``connect_timeout`` bounds). Background threads are rescued the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger("mediagate.db")

# An execution option for a connection whose statements may run long on
# purpose, with the server's timeouts lifted as well (migrations).
NO_DEADLINE = "mediagate_no_deadline"


class StatementWatchdog:
    """Deadlines for one engine's statements (``limit`` seconds each)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)
        # COMMIT and ROLLBACK are no cursor executes, and no event surrounds
        # them: this engine's dialect calls them through these two methods.
        dialect: Any = engine.dialect
        for name in ("do_commit", "do_rollback"):
            setattr(dialect, name, self._bounded(getattr(dialect, name)))

    def _bounded(self, call: Any) -> Any:
        def bounded(driver: Any) -> None:
            _WATCH.start(driver, self.limit)
            try:
                call(driver)
            finally:
                _WATCH.forget(driver)

        return bounded

    def _before(self, conn: Any, _cursor: Any, *_args: Any) -> None:
        if not conn.get_execution_options().get(NO_DEADLINE):
            _WATCH.start(conn.connection.driver_connection, self.limit)

    def _after(self, conn: Any, *_args: Any) -> None:
        _WATCH.forget(conn.connection.driver_connection)

    def _error(self, context: Any) -> None:
        try:
            driver = context.connection.connection.driver_connection
        except Exception:  # already invalidated: the watcher finds its socket closed
            return
        _WATCH.forget(driver)


class _Watcher:
    """One thread for every engine of the process, started by the first statement
    (a CLI command that never queries gets none)."""

    tick = 0.25

    def __init__(self) -> None:
        self._running: dict[int, tuple[float, Any]] = {}  # id(driver connection) -> (deadline, it)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def start(self, driver: Any, limit: float) -> None:
        deadline = time.monotonic() + limit
        with self._lock:
            self._running[id(driver)] = (deadline, driver)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="db-watchdog", daemon=True)
                self._thread.start()

    def forget(self, driver: Any) -> None:
        with self._lock:
            self._running.pop(id(driver), None)

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            # Cut under the lock: a statement that ends meanwhile cannot be
            # forgotten, and its connection handed to the next one, halfway.
            with self._lock:
                late = [d for deadline, d in self._running.values() if deadline <= now]
                for driver in late:
                    self._running.pop(id(driver), None)
                    self._cut(driver)

    def _cut(self, driver: Any) -> None:
        try:
            fd = driver.pgconn.socket
        except Exception:  # closed meanwhile: nothing left to cut
            return
        self.fired += 1
        log.warning("a database statement ran past its client-side deadline: dropping the connection")
        # A duplicate of the descriptor: shutting it down ends the connection for
        # the driver's own descriptor too (it is one socket), closing it does not.
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)


_WATCH = _Watcher()
