"""``python -m bench``: run the scenarios, write results JSON, the report and its charts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.extra import EXTRA, run_extra
from bench.harness import WORK, tools_missing
from bench.scenarios import SCENARIOS, Config, run_all


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes, one short round (the smoke test)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="report folder")
    p.add_argument("--work", type=Path, default=WORK, help="scratch folder (git-ignored)")
    p.add_argument("--only", default=",".join((*SCENARIOS, *EXTRA)), help="comma-separated scenarios to run")
    p.add_argument("--serve-args", default=None, help="flags for `mediagate serve` (default: production)")
    p.add_argument("--duration", type=float, default=None, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds")
    p.add_argument("--report-only", action="store_true", help="re-render REPORT.md from results.json")
    p.add_argument(
        "--synapse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the peers scenario with Synapse (default: on, off with --quick)",
    )
    args = p.parse_args(argv)
    if args.report_only:
        report.write(json.loads((args.out / "results.json").read_text()), args.out)
        return 0

    missing = tools_missing()
    if missing:
        print(f"missing tools: {', '.join(missing)} (run `make bench-deps`)", file=sys.stderr)
        return 2
    cfg = Config.quick() if args.quick else Config()
    changes: dict[str, object] = {}
    if args.serve_args is not None:
        changes["serve_args"] = tuple(shlex.split(args.serve_args))
    if args.duration is not None:
        changes["duration"] = args.duration
    if args.rounds is not None:
        changes["rounds"] = args.rounds
    if args.synapse is not None:
        changes["peer_synapse"] = args.synapse
    cfg = dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
    only = tuple(s for s in args.only.split(",") if s)
    unknown = set(only) - set(SCENARIOS) - set(EXTRA)
    if unknown:
        p.error(f"unknown scenarios: {sorted(unknown)}")

    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        print(line, flush=True)

    log(f"bench ({cfg.label}): mediagate serve {' '.join(cfg.serve_args)} vs nginx, wrk -t1")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = report.load_average()
    t0 = time.monotonic()
    results = run_all(args.work, cfg, log, tuple(s for s in only if s in SCENARIOS))
    results.update(run_extra(args.work, cfg, log, only))  # soak and the S3 shapes (bench/extra.py)
    results["elapsed_seconds"] = time.monotonic() - t0
    results["started"] = started
    results["loadavg_start"] = load_start
    results["command"] = "make bench" if not args.quick else "python -m bench --quick"
    results["argv"] = sys.argv[1:] if argv is None else argv
    results["machine"] = report.machine()
    results = _merge(args.out / "results.json", results, only)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    report.write(results, args.out)
    log(f"wrote {args.out / 'REPORT.md'} in {time.monotonic() - t0:.0f} s")
    return 0


def _merge(path: Path, fresh: dict[str, Any], only: tuple[str, ...]) -> dict[str, Any]:
    """A run of some scenarios (``--only``) replaces those scenarios in an existing
    results.json of the same configuration and keeps the others' committed results;
    the re-run is listed under ``partial_runs`` (shown in the report's header)."""
    if set(only) >= {*SCENARIOS, *EXTRA} or not path.exists():
        return fresh
    old = json.loads(path.read_text())
    config = fresh["config"]
    if old.get("config", {}).get("label") != config["label"]:
        return fresh
    merged = dict(old)
    for name in only:
        if name in fresh:
            merged[name] = fresh[name]
    machine = fresh["machine"]
    merged["partial_runs"] = [
        # A re-run of the same scenarios supersedes the earlier one's note.
        *(run for run in old.get("partial_runs", []) if not set(run["only"]) <= set(only)),
        {
            "only": list(only),
            "started": fresh["started"],
            "elapsed_seconds": fresh["elapsed_seconds"],
            "loadavg_start": fresh["loadavg_start"],
            "loadavg_end": machine["loadavg_end"],
            "argv": fresh["argv"],
            "config": config,
        },
    ]
    return merged


if __name__ == "__main__":
    sys.exit(main())
