"""Profile a hot path with py-spy: ``python -m bench.profile_hot redirect|delivery [--serve-args ..]``.

Starts mediagate (one worker, so one process to sample), drives it with wrk
and records a py-spy flame graph / top-functions listing into bench/work/."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from bench.harness import WORK, process_tree, running_nginx, wrk
from bench.scenarios import Config, hot_request, nginx_root, site


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("path", choices=["redirect", "delivery"])
    p.add_argument("--serve-args", default="--workers 1")
    p.add_argument("--backend", default="sqlite")
    p.add_argument("--size", type=int, default=1024 * 1024)
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--out", type=Path, default=None, help="also write a top-functions summary here")
    args = p.parse_args()
    cfg = Config(serve_args=tuple(shlex.split(args.serve_args)), object_sizes=(args.size,))
    WORK.mkdir(parents=True, exist_ok=True)
    root = nginx_root(WORK, cfg)
    spy = str(Path(sys.executable).parent / "py-spy")
    with running_nginx(WORK, root, "http://127.0.0.1/x") as nginx, site(WORK, args.backend, cfg) as s:
        url, headers = hot_request(s, nginx.base_url, args.path, args.size)
        pids = process_tree(s.server.pid)
        target = pids[-1]
        out = WORK / f"profile-{args.path}.txt"
        rec = subprocess.Popen(
            [spy, "record", "-p", str(target), "-d", str(args.duration - 1), "-f", "raw", "-o", str(out),
             "--nonblocking", "--threads", "--rate", os.environ.get("BENCH_PROFILE_RATE", "100"),
             *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        res: list[object] = []
        t = threading.Thread(target=lambda: res.append(wrk(url, duration=args.duration, connections=32,
                                                          headers=headers)))  # fmt: skip
        t.start()
        t.join(args.duration + 40)
        rec.wait(60)
        print(res[0] if res else "wrk failed")
        print(f"raw stacks: {out} (pids {pids}, sampled {target})")
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            summary = args.out / f"profile-{args.path}.md"
            summary.write_text(summarize(out, f"{args.path}, {args.backend}, wrk: {res[0] if res else '-'}"))
            print(f"summary: {summary}")
    return 0


def summarize(raw: Path, title: str, top: int = 40) -> str:
    """Where the samples go: the share of samples each function is on the stack
    of (inclusive) and at the top of (self), from py-spy's raw (collapsed) output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] += n
        leaf = stack.split(";")[-1]
        own[leaf] += n
    lines = [f"# py-spy profile: {title}", "", f"{total} samples.", "", "## Inclusive", ""]
    lines += [f"- {v / max(total, 1):6.1%} `{k}`" for k, v in inclusive.most_common(top)]
    lines += ["", "## Self (top of stack)", ""]
    lines += [f"- {v / max(total, 1):6.1%} `{k}`" for k, v in own.most_common(top // 2)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
