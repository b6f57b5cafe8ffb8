"""The process registry (cluster/processes.py), on SQLite and PostgreSQL: a
second live process on one database without Redis is named; dead processes
(stale heartbeat, or a vanished pid on this host) never block a start."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from mediagate.cluster import processes
from mediagate.core.timefmt import utcnow
from mediagate.db.models import ServerProcess
from mediagate.runtime.context import Runtime


def _age(rt: Runtime, ident: str, seconds: float) -> None:
    with rt.tx() as session:
        session.execute(
            update(ServerProcess)
            .where(ServerProcess.id == ident)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_live_process_without_redis_is_refused_and_the_first_keeps_running(runtime: Runtime) -> None:
    assert processes.conflict(runtime) is None  # an empty registry: `make run` starts at once
    first = processes.register(runtime)
    assert processes.conflict(runtime, me=first) is None
    second = processes.register(runtime)
    problem = processes.conflict(runtime, me=second)
    assert problem is not None and "MEDIAGATE_REDIS_URL" in problem and "\n" not in problem
    assert f"on {socket.gethostname()}" in problem
    # The earlier process is not the one that yields.
    assert processes.conflict(runtime, me=first) is None
    # `mediagate serve` (not registered yet) sees both.
    assert processes.conflict(runtime) is not None
    processes.unregister(runtime, second)
    processes.unregister(runtime, first)
    assert processes.conflict(runtime) is None


def test_with_redis_any_number_of_processes_may_share_the_database(runtime: Runtime) -> None:
    shared = runtime.settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    rt = Runtime(**{**runtime.__dict__, "settings": shared})
    ids = [processes.register(rt) for _ in range(3)]
    assert all(processes.conflict(rt, me=i) is None for i in ids)
    assert len(processes.live_processes(rt)) == 3


def test_a_stale_heartbeat_is_a_dead_process_and_its_row_is_removed(runtime: Runtime) -> None:
    gone = processes.register(runtime)
    _age(runtime, gone, runtime.settings.process_heartbeat * processes.STALE_AFTER + 1)
    assert processes.conflict(runtime) is None
    assert [p.id for p in processes.live_processes(runtime)] == []


def test_a_killed_process_on_this_host_does_not_delay_the_next_start(runtime: Runtime) -> None:
    """kill -9 of `make run`, then `make run` again at once: the row's heartbeat is fresh, its pid gone."""
    with runtime.tx() as session:
        now = utcnow()
        session.add(
            ServerProcess(
                id="killed", hostname=socket.gethostname(), pid=_dead_pid(), role="all",
                shared_state=False, date_started=now, heartbeat_at=now,
            )
        )  # fmt: skip
    assert processes.conflict(runtime) is None
    with runtime.sessions() as session:
        assert session.get(ServerProcess, "killed") is None


def test_a_live_process_on_another_host_counts(runtime: Runtime) -> None:
    """Its pid cannot be checked from here: only its heartbeat says it lives."""
    with runtime.tx() as session:
        now = utcnow()
        session.add(
            ServerProcess(
                id="elsewhere", hostname="other-host.invalid", pid=_dead_pid(), role="worker",
                shared_state=False, date_started=now, heartbeat_at=now,
            )
        )  # fmt: skip
    problem = processes.conflict(runtime)
    assert problem is not None and "other-host.invalid" in problem and "role worker" in problem


def test_the_heartbeat_renews_the_row_and_registers_again_after_removal(runtime: Runtime) -> None:
    me = processes.register(runtime)
    _age(runtime, me, 2)
    beat = processes.Heartbeat(runtime, me)
    beat.run_once()
    with runtime.sessions() as session:
        row = session.get(ServerProcess, me)
        assert row is not None  # SQLite hands back naive UTC datetimes
        assert row.heartbeat_at.replace(tzinfo=None) > (utcnow() - timedelta(seconds=2)).replace(tzinfo=None)
    processes.unregister(runtime, me)  # as a peer does with a row it thinks is stale
    beat.run_once()
    assert beat.ident != me
    assert [p.id for p in processes.live_processes(runtime)] == [beat.ident]


def test_with_redis_the_heartbeat_still_prunes_dead_processes(runtime: Runtime) -> None:
    shared = runtime.settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    rt = Runtime(**{**runtime.__dict__, "settings": shared})
    gone, me = processes.register(rt), processes.register(rt)
    _age(rt, gone, rt.settings.process_heartbeat * processes.STALE_AFTER + 1)
    processes.Heartbeat(rt, me).run_once()
    with rt.sessions() as session:
        assert session.get(ServerProcess, gone) is None
        assert session.get(ServerProcess, me) is not None
