"""The registry of running server processes (table ``processes``).

Every serving process inserts a row when its lifespan starts, renews
``heartbeat_at`` every ``MEDIAGATE_PROCESS_HEARTBEAT`` seconds and removes the
row when it stops. A row not renewed for ``STALE_AFTER`` intervals belongs to
a dead process; so does a row of this host whose pid no longer exists (a
``kill -9`` of ``make run`` must not delay the next start).

Why: without Redis, rate-limit counters and concurrency shares live in each
process's memory, so two processes on one database would each allow the full
limits. ``--workers N`` is refused up front (``Settings.multi_process_problem``);
processes on *other machines* sharing the database can only be seen here.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from mediagate.db.dml import rowcount
from mediagate.db.models import ServerProcess
from mediagate.db.polling import PollingWorker

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.processes")

STALE_AFTER = 3  # heartbeat intervals


@dataclass(frozen=True)
class Peer:
    id: str
    hostname: str
    pid: int
    role: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def live_processes(rt: Runtime) -> list[Peer]:
    """The processes whose heartbeat is recent, oldest first. Rows of dead
    processes (stale, or of this host with a vanished pid) are removed."""
    now = rt.clock.now()
    cutoff = now - timedelta(seconds=rt.settings.process_heartbeat * STALE_AFTER)
    here = socket.gethostname()
    with rt.tx() as session:
        session.execute(delete(ServerProcess).where(ServerProcess.heartbeat_at < cutoff))
        order = (ServerProcess.date_started, ServerProcess.id)
        rows = list(session.scalars(select(ServerProcess).order_by(*order)))
        dead = [r.id for r in rows if r.hostname == here and not _pid_alive(r.pid)]
        if dead:
            session.execute(delete(ServerProcess).where(ServerProcess.id.in_(dead)))
    return [Peer(r.id, r.hostname, r.pid, r.role) for r in rows if r.id not in dead]


def conflict(rt: Runtime, me: str | None = None) -> str | None:
    """A one-line reason this process must not run beside the live ones, or ``None``.

    ``me``: this process's registry id. Only processes registered *before* it
    count, so of two processes started at the same moment the later one yields
    and the earlier keeps running."""
    if rt.settings.redis_url:
        return None  # shared state: any number of processes
    peers = live_processes(rt)
    if me is not None:
        ids = [p.id for p in peers]
        peers = peers[: ids.index(me)] if me in ids else peers
    if not peers:
        return None
    p = peers[0]
    return (
        f"another mediagate process (pid {p.pid} on {p.hostname}, role {p.role}) is running on this "
        "database and MEDIAGATE_REDIS_URL is not set: without Redis each process counts rate limits "
        "and shares on its own; set MEDIAGATE_REDIS_URL on every process (see docs/deploy.md)"
    )


def register(rt: Runtime) -> str:
    """Insert this process's row; returns its id."""
    now = rt.clock.now()
    pid = os.getpid()
    ident = f"{pid}-{secrets.token_hex(8)}"
    with rt.tx() as session:
        session.add(
            ServerProcess(
                id=ident,
                hostname=socket.gethostname()[:255],
                pid=pid,
                role=rt.settings.role,
                shared_state=bool(rt.settings.redis_url),
                date_started=now,
                heartbeat_at=now,
            )
        )
    return ident


def unregister(rt: Runtime, ident: str) -> None:
    with rt.tx() as session:
        session.execute(delete(ServerProcess).where(ServerProcess.id == ident))


class Heartbeat(PollingWorker):
    """Renews this process's row; re-inserts it if a peer removed it as stale
    (after a long database outage, say), so the registry heals itself."""

    name = "process-heartbeat"

    def __init__(self, rt: Runtime, ident: str) -> None:
        super().__init__(rt.settings.process_heartbeat)
        self._rt = rt
        self.ident = ident

    def run_once(self) -> int:
        with self._rt.tx() as session:
            renewed = rowcount(
                session,
                update(ServerProcess)
                .where(ServerProcess.id == self.ident)
                .values(heartbeat_at=self._rt.clock.now())
                .execution_options(synchronize_session=False),
            )
        if renewed != 1:
            log.warning("this process's registry row was gone (removed as stale); registering again")
            self.ident = register(self._rt)
        if self._rt.settings.redis_url:
            live_processes(self._rt)  # only prunes the rows of dead processes
            return 1
        problem = conflict(self._rt, me=self.ident)
        if problem:
            log.error("%s", problem)
        return 1
