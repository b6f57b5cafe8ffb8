"""Line and branch coverage of src/mediagate per package, from coverage.py's combined
data: ``python -m tests.support.coverage_summary [DATA_FILE] [--json OUT] [--against OLD.json]``.

`make test` prints it after the run; ``--json`` keeps the figures, ``--against`` puts an
earlier run's figures beside them (the "nothing covered less" check of a change)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import coverage

Figures = dict[str, dict[str, int]]


def measure(data_file: str) -> Figures:
    cov = coverage.Coverage(data_file=data_file)
    cov.load()
    totals: Figures = defaultdict(
        lambda: {"statements": 0, "missing": 0, "branches": 0, "missed_branches": 0}
    )
    for filename in cov.get_data().measured_files():
        path = Path(filename)
        if "mediagate" not in path.parts:
            continue
        rel = path.parts[path.parts.index("mediagate") + 1 :]
        package = rel[0] if len(rel) > 1 else "(top)"
        analysis = cov._analyze(filename)  # the figures `coverage report` prints, per file
        numbers = analysis.numbers
        for key, value in (
            ("statements", numbers.n_statements),
            ("missing", numbers.n_missing),
            ("branches", numbers.n_branches),
            ("missed_branches", numbers.n_missing_branches),
        ):
            totals[package][key] += value
    return dict(totals)


def percent(f: dict[str, int]) -> float:
    """coverage.py's figure: covered lines and branches over all lines and branches."""
    total = f["statements"] + f["branches"]
    covered = f["statements"] - f["missing"] + f["branches"] - f["missed_branches"]
    return 100.0 * covered / total if total else 100.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_file", nargs="?", default=".coverage-data/data")
    parser.add_argument("--json")
    parser.add_argument("--against")
    args = parser.parse_args()
    figures = measure(args.data_file)
    old: Figures = json.loads(Path(args.against).read_text()) if args.against else {}
    overall = {
        k: sum(f[k] for f in figures.values())
        for k in ("statements", "missing", "branches", "missed_branches")
    }
    rows = [*sorted(figures.items()), ("TOTAL", overall)]
    if old:
        old["TOTAL"] = {k: sum(f[k] for n, f in old.items() if n != "TOTAL") for k in overall}
    print(
        f"{'package':<16}{'lines':>8}{'missed':>8}{'branches':>10}{'missed':>8}{'cover':>8}"
        + ("  before" if old else "")
    )
    lower = False
    for name, f in rows:
        line = f"{name:<16}{f['statements']:>8}{f['missing']:>8}{f['branches']:>10}{f['missed_branches']:>8}"
        line += f"{percent(f):>7.1f}%"
        if old and name in old:
            was = percent(old[name])
            line += f"  {was:6.1f}%" + ("  LOWER" if percent(f) < was - 0.05 else "")
            lower = lower or percent(f) < was - 0.05
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True))
    return 1 if lower else 0


if __name__ == "__main__":
    sys.exit(main())
