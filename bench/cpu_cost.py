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


def measure(path: str, backend: str, size: int, duration: int, serve_args: str) -> list[str]:
    """The measurement as markdown lines: mediagate's threads, then nginx."""
    cfg = Config(serve_args=tuple(shlex.split(serve_args)), object_sizes=(size,))
    WORK.mkdir(parents=True, exist_ok=True)
    root = nginx_root(WORK, cfg)
    with (
        running_nginx(WORK, root, "http://127.0.0.1/x", workers="1") as nginx,
        site(WORK, backend, cfg) as s,
    ):
        url, headers = hot_request(s, nginx.base_url, path, size)
        wrk(url, duration=2, connections=32, headers=headers)  # warm-up
        pids = process_tree(s.server.pid)
        for pid in pids:
            _NAMES.update(_python_names(pid))
        n, per = _cost(pids, lambda: wrk(url, duration=duration, connections=32, headers=headers))
        ref = nginx.base_url + ("/redirect" if path == "redirect" else f"/files/obj-{size}.png")
        n2, per2 = _cost(process_tree(nginx.pid), lambda: wrk(ref, duration=duration, connections=32))
    total, ref_total = sum(per.values()), sum(per2.values())
    out = [
        f"### {path}, {backend}: mediagate {n / duration:,.0f} req/s, nginx {n2 / duration:,.0f} req/s",
        "",
        "| process / thread | µs CPU per request | share |",
        "| --- | ---: | ---: |",
        f"| **mediagate, all threads** | **{total / n * 1e6:.1f}** | 100% |",
    ]
    for name, spent in sorted(per.items(), key=lambda kv: -kv[1]):
        if spent / n * 1e6 >= 0.05:
            out.append(f"| {name} | {spent / n * 1e6:.2f} | {spent / total:.1%} |")
    out += [f"| **nginx, 1 worker** | **{ref_total / n2 * 1e6:.1f}** | |", ""]
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("path", nargs="?", choices=["redirect", "delivery"], default="redirect")
    p.add_argument("--serve-args", default="")
    p.add_argument("--backend", action="append", help="sqlite (default) and/or postgresql")
    p.add_argument("--size", type=int, default=1024 * 1024)
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--out", type=Path, default=None, help="also write cpu-cost-<path>.md here")
    args = p.parse_args()
    text = [
        f"# CPU time per request by thread: {args.path} (bench/cpu_cost.py)",
        "",
        "User + system CPU of each thread of the server (`/proc/<pid>/task/*/stat`) over one wrk run"
        f" ({args.duration} s, 32 connections, one wrk thread), divided by the requests answered. Threads"
        " Python does not know are granian's Rust runtime threads (HTTP parsing and the sockets).",
        "",
    ]
    for backend in args.backend or ["sqlite"]:
        text += measure(args.path, backend, args.size, args.duration, args.serve_args)
    print("\n".join(text))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"cpu-cost-{args.path}.md").write_text("\n".join(text) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
