"""The peer comparison's parts that need no server (bench/peers.py, bench/synapse.py,
bench/report_peers.py): the CPU meter, Synapse's configuration and lock, the verdicts.

Synapse itself is bench-only: nothing here starts it or imports it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml
from bench.harness import ROOT, cpu_seconds, machine_busy_seconds
from packaging.requirements import Requirement

from bench import report_peers, synapse


def test_cpu_seconds_reads_what_the_process_spent() -> None:
    # /proc/<pid>/stat against the interpreter's own clock of the same CPU time.
    me = [os.getpid()]
    before, clock = cpu_seconds(me), time.process_time()
    while time.process_time() - clock < 0.3:
        sum(range(1000))
    spent = time.process_time() - clock
    measured = cpu_seconds(me) - before
    assert abs(measured - spent) < 0.05, (measured, spent)  # a clock tick is 10 ms
    assert machine_busy_seconds() >= measured
    assert cpu_seconds([2**22 + 12345]) == 0.0  # a pid that is gone counts nothing


def test_synapse_config_is_loopback_sqlite_and_local(tmp_path: Path) -> None:
    conf = yaml.safe_load(synapse.homeserver_yaml(tmp_path, 8448, "s3cret"))
    [listener] = conf["listeners"]
    assert listener["bind_addresses"] == ["127.0.0.1"] and listener["port"] == 8448
    assert listener["tls"] is False and set(listener["resources"][0]["names"]) == {"client", "media"}
    assert conf["database"] == {"name": "sqlite3", "args": {"database": str(tmp_path / "homeserver.db")}}
    assert conf["media_store_path"] == str(tmp_path / "media_store")
    assert conf["enable_authenticated_media"] is True and conf["enable_registration"] is False
    assert conf["trusted_key_servers"] == []  # never reaches outside the machine
    assert yaml.safe_load(synapse.LOG_YAML)["root"]["level"] == "WARNING"


def test_synapse_is_pinned_apart_from_mediagate() -> None:
    wanted = Requirement(
        next(line for line in (ROOT / "bench" / "synapse.in").read_text().splitlines() if line[:1].isalpha())
    )
    locked = {}
    for line in (ROOT / "bench" / "synapse-requirements.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            req = Requirement(text)
            [spec] = req.specifier
            assert spec.operator == "==", line
            locked[req.name] = spec.version
    assert wanted.specifier.contains(locked["matrix-synapse"])
    for lock in (ROOT / "requirements").glob("*.txt"):
        assert "matrix-synapse" not in lock.read_text(), lock  # its own virtualenv, never mediagate's
    assert "bench/.synapse-venv/" in (ROOT / ".gitignore").read_text().splitlines()


def _side(rps: float, cpu_us: float) -> dict[str, Any]:
    return {"rps": rps, "cpu_us_per_request": cpu_us, "p50_ms": 1.0, "p99_ms": 2.0, "runs": []}


def _peers(synapse_rps: float, direct_rps: float, redirect_ratio: float) -> dict[str, Any]:
    size = {
        "signed": _side(1000, 100),
        "direct": _side(direct_rps, 100),
        "synapse": _side(synapse_rps, 1000),
        "nginx": _side(4000, 20),
        "ratio_signed_synapse": 1000 / synapse_rps,
        "ratio_direct_synapse": direct_rps / synapse_rps,
        "cpu_ratio_synapse_signed": 10.0,
        "cpu_ratio_synapse_direct": 10.0,
        "ratio_direct_signed": direct_rps / 1000,
    }
    return {
        "connections": 32,
        "backend": "sqlite",
        "synapse": "1.0",
        "loadavg_start": "1 1 1",
        "loadavg_end": "1 1 1",
        "sizes": {str(1024 * 1024): size},
        "redirect": {"mediagate": _side(100, 10), "nginx": _side(400, 2), "ratio_rps": redirect_ratio},
    }


def test_verdicts_follow_the_targets() -> None:
    good = report_peers.target_rows({"peers": _peers(400, 800, 0.25)})
    assert len(good) == 4 and all(row.endswith("**met** |") for row in good), good
    # Just under each bound: the direct shape under 2x Synapse and under 0.8x signed, the 307 under 0.25x.
    bad = report_peers.target_rows({"peers": _peers(400.5, 799, 0.249)})
    verdicts = {row.split(" (")[0]: row.endswith("**missed** |") for row in bad}
    assert verdicts == {
        "| 8. signed download ≥ 2 x Synapse": False,
        "| 8. direct download ≥ 2 x Synapse": True,
        "| 8. direct delivery ≥ 0.8 x the signed download": True,
        "| 8. authenticated 307 ≥ 0.25 x nginx": True,
    }, bad


def test_section_renders_without_synapse() -> None:
    # The quick configuration (the smoke test) runs no Synapse: the section says so.
    peers = _peers(500, 800, 0.3)
    for r in peers["sizes"].values():
        del r["synapse"], r["ratio_signed_synapse"], r["ratio_direct_synapse"]
    peers["synapse"] = None
    results = {"peers": peers, "config": {"duration": 1.0, "rounds": 1}, "machine": {"nproc": "2"}}
    text = "\n".join(report_peers.render(results))
    assert "Synapse was not run" in text and "| n/a |" in text
    assert [row for row in report_peers.target_rows(results) if "Synapse" in row] == []
