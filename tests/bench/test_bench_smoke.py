"""Smoke run of the benchmark harness (`python -m bench --quick`) on tiny sizes.

It starts the real processes (mediagate, nginx, wrk) end to end and checks
that the results JSON and the report come out whole. No timing assertions:
the numbers of a one-second run on a shared machine mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.harness import ROOT, tools_missing

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = [pytest.mark.e2e, pytest.mark.system]


def test_quick_bench_writes_report(tmp_path: Path) -> None:
    missing = tools_missing()
    if missing:
        pytest.skip(f"benchmark tools not installed: {', '.join(missing)} (make bench-deps)")
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--work", str(tmp_path / "work")],
        cwd=ROOT,
        # The soak's load phase, per shape (embedded, production): enough for a few hundred operations.
        env={**os.environ, "BENCH_SOAK_SECONDS": "3"},
        capture_output=True,
        text=True,
        # A bound on a hang, not a speed target: on the shared 2-core machine at load average
        # 18-20 (2026-12-06) the whole quick run took more than 8 minutes.
        timeout=720,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    assert results["config"]["label"] == "quick"
    assert int(results["machine"]["nproc"]) >= 1

    red = results["redirect"]["backends"]["sqlite"]
    for side in ("mediagate", "mediagate_api_key", "nginx"):
        assert red[side]["rps"] > 0 and red[side]["requests"] > 0
        assert red[side]["p50_ms"] <= red[side]["p99_ms"]
        assert red[side]["bad_responses"] == 0 and red[side]["socket_errors"] == 0
    assert red["ratio_rps"] > 0 and red["ratio_rps_api_key"] > 0
    # The invalidation channel's bound, process to process over the test Redis.
    assert results["consistency"]["received"] == results["consistency"]["messages"] > 0

    # The peer comparison without its peer: Synapse is bench-only and never starts here.
    peers = results["peers"]
    assert peers["synapse"] is None
    for res in peers["sizes"].values():
        assert "synapse" not in res and res["ratio_direct_signed"] > 0
        for side in ("signed", "direct", "nginx"):
            assert res[side]["requests"] > 0 and res[side]["cpu_us_per_request"] > 0, side
            assert res[side]["bad_responses"] == 0 and res[side]["socket_errors"] == 0, side
    assert peers["redirect"]["mediagate"]["bad_responses"] == 0 and peers["redirect"]["ratio_rps"] > 0
    # Warm direct deliveries and 307s are the fast path's (the first of each is Starlette's).
    content = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
    assert peers["fast_share"][content] > 0.5

    for size, res in results["delivery"]["sizes"].items():
        assert int(size) > 0 and res["mediagate"]["mb_per_s"] > 0 and res["nginx"]["mb_per_s"] > 0
        assert res["mediagate"]["bad_responses"] == 0
        # The production shape: a front nginx sending files on mediagate's X-Accel-Redirect.
        assert res["behind_nginx"]["requests"] > 0 and res["behind_nginx"]["mb_per_s"] > 0
        assert res["behind_nginx"]["bad_responses"] == 0 and res["behind_nginx"]["socket_errors"] == 0
        assert res["ratio_rps_behind_nginx"] > 0

    for res in results["ingest"]["sizes"].values():
        assert res["mediagate"]["requests"] > 0 and res["mediagate"]["bad_responses"] == 0
        assert res["failed_messages"] == 0

    ml = results["media_list"]["backends"]["sqlite"]
    small, large = (str(n) for n in results["media_list"]["rows"])
    for query in ("many_first_page", "many_deep_page", "few_first_page"):
        assert ml["stages"][small][query]["p50_ms"] > 0
        assert ml["stages"][large][query]["bad_responses"] == 0
        assert ml["ratio_p50"][query] > 0

    mem = results["memory"]
    assert mem["idle_bytes"] > 10 * 1024 * 1024  # a Python server process is never that small
    assert mem["ingest_peak_bytes"] >= mem["idle_bytes"] and mem["serve_peak_bytes"] >= mem["idle_bytes"]
    assert all(d.strip() == f"200 {mem['object_bytes']}" for d in mem["downloads"])

    soak = results["soak"]
    assert soak["config"]["seconds"] == 3
    assert set(soak["shapes"]) == {"embedded", "production"}
    for name, shape in soak["shapes"].items():
        # Every operation of the mix ran, and every answer was the expected one.
        assert all(shape["ops"][op]["count"] > 0 for op in ("create", "list", "redirect", "download")), name
        assert shape["error_count"] == 0, (name, shape["errors"])
        assert shape["messages_created"] > 0 and shape["callbacks_received"] > 0
        assert shape["rss_start"] > 10 * 1024 * 1024 and shape["fds_start"] > 0
        assert len(shape["series"]) >= 2 and shape["processes"]
        assert shape["backlog_after_drain"]["outbox"] == 0
    # The production shape is a supervisor and two workers.
    assert soak["shapes"]["production"]["process_count_start"] == 3

    s3 = results["s3_shapes"]
    for size, res in s3["edge"]["sizes"].items():
        for side in ("mediagate", "seaweedfs", "nginx"):
            assert res[side]["requests"] > 0 and res[side]["bad_responses"] == 0, (size, side)
    assert s3["presign"]["mediagate"]["requests"] > 0 and s3["presign"]["mediagate"]["bad_responses"] == 0
    for res in s3["ingest"]["sizes"].values():
        assert res["mediagate"]["requests"] > 0 and res["failed_messages"] == 0
    for level in s3["clients"]["levels"].values():
        for res in level.values():
            assert res["boto3"]["requests"] > 0 and res["aio"]["requests"] > 0
            assert res["boto3"]["bad_responses"] == 0 and res["aio"]["bad_responses"] == 0

    report = (out / "REPORT.md").read_text()
    for heading in (
        "## Targets",
        "## 1.",
        "## 2.",
        "## 3.",
        "## 4.",
        "## 5.",
        "## 6.",
        "## 7.",
        "## 8.",
        "## Machine",
    ):
        assert heading in report
    assert "| 6. soak production:" in report and "**Shortened run**" in report
    for chart in ("redirect.png", "delivery.png", "ingest.png", "media_list.png", "memory.png", "soak.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({chart})" in report
