"""CPU time per request, by thread: ``python -m bench.cpu_cost [redirect|delivery] [--backend ..]``.

Throughput on this shared 2-core machine moves with whatever else runs; the
CPU time a server spends per answered request moves much less. This starts
mediagate and nginx the way scenario 1 does, drives each with wrk, and reads
``/proc/<pid>/task/*/stat`` before and after: microseconds of CPU (user +
system) per request, for nginx, for mediagate as a whole and for each of
mediagate's threads by name (the event loop, granian's runtime threads, the
log-line writer, the audit flusher ...). It says where the cores go, which a
sampling profiler of one thread cannot.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.harness import WORK, WrkResult, process_tree, running_nginx, wrk
from bench.scenarios import Config, hot_request, nginx_root, site

_TICK = os.sysconf("SC_CLK_TCK")
_NAMES: dict[int, str] = {}


def _threads(pids: list[int]) -> dict[tuple[int, int], tuple[str, float]]:
    """(pid, tid) -> (thread name, CPU seconds so far)."""
    out: dict[tuple[int, int], tuple[str, float]] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            # utime + stime; BENCH_CPU_SPLIT=sys counts the kernel's share alone.
            spent = (
                int(fields[12])
                if os.environ.get("BENCH_CPU_SPLIT") == "sys"
                else int(fields[11]) + int(fields[12])
            )
            out[(pid, int(task.name))] = (name, spent / _TICK)
    return out


def _python_names(pid: int) -> dict[int, str]:
    """Native thread id -> Python thread name, from ``py-spy dump`` (the OS
    names every thread after the process)."""
    spy = str(Path(sys.executable).parent / "py-spy")
    try:
        out = subprocess.run(
            [spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    names: dict[int, str] = {}
    for m in re.finditer(r'Thread (\d+) \([^)]*\): "([^"]+)"', out):
        names[int(m.group(1))] = m.group(2)
    return names


def _cost(pids: list[int], run: Callable[[], WrkResult]) -> tuple[int, dict[str, float]]:
    before = _threads(pids)
    result = run()
    after = _threads(pids)
    per: dict[str, float] = {}
    for key, (name, spent) in after.items():
        # Threads Python does not know are granian's (Rust) runtime threads.
        label = _NAMES.get(key[1], "granian (Rust)")
        per[label] = per.get(label, 0.0) + spent - before.get(key, (name, 0.0))[1]
    return result.requests, per


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("path", nargs="?", choices=["redirect", "delivery"], default="redirect")
    p.add_argument("--serve-args", default="")
    p.add_argument("--backend", default="sqlite")
    p.add_argument("--size", type=int, default=1024 * 1024)
    p.add_argument("--duration", type=int, default=8)
    args = p.parse_args()
    cfg = Config(serve_args=tuple(shlex.split(args.serve_args)), object_sizes=(args.size,))
    WORK.mkdir(parents=True, exist_ok=True)
    root = nginx_root(WORK, cfg)
    with (
        running_nginx(WORK, root, "http://127.0.0.1/x", workers="1") as nginx,
        site(WORK, args.backend, cfg) as s,
    ):
        url, headers = hot_request(s, nginx.base_url, args.path, args.size)
        wrk(url, duration=2, connections=32, headers=headers)  # warm-up
        pids = process_tree(s.server.pid)
        for pid in pids:
            _NAMES.update(_python_names(pid))
        n, per = _cost(pids, lambda: wrk(url, duration=args.duration, connections=32, headers=headers))
        total = sum(per.values())
        print(f"mediagate ({args.path}, {args.backend}): {n / args.duration:,.0f} req/s, "
              f"{total / n * 1e6:.1f} µs CPU per request")  # fmt: skip
        for name, spent in sorted(per.items(), key=lambda kv: -kv[1]):
            if spent > 0:
                print(f"  {name:<20} {spent / n * 1e6:7.2f} µs  {spent / total:6.1%}")
        nginx_pids = process_tree(nginx.pid)
        ref = nginx.base_url + ("/redirect" if args.path == "redirect" else f"/files/obj-{args.size}.png")
        n2, per2 = _cost(nginx_pids, lambda: wrk(ref, duration=args.duration, connections=32))
        print(
            f"nginx: {n2 / args.duration:,.0f} req/s, {sum(per2.values()) / n2 * 1e6:.1f} µs CPU per request"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
