"""The Prometheus alert rule docs/operations.md gives for a full media volume,
run by Prometheus's own rule tester (``promtool test rules``) on the series
mediagate exports: it must fire on the first write refused for lack of space,
and only then."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mediagate.observability import instrument, metrics
from tests.support.server import ROOT

OPERATIONS = ROOT / "docs" / "operations.md"
FULL = (
    'mediagate_storage_errors_total{{job="mediagate",instance="{instance}",'
    'operation="put",reason="{reason}"}}'
)
DESCRIPTION = (
    "{value} store writes failed with ENOSPC/EDQUOT in 5 minutes. Messages with MediaUrl fail with 11200 "
    "and inbound media is refused (503) until there is room; free space or grow the volume, "
    "nothing needs cleaning up."
)


def documented_rule() -> str:
    (block,) = [
        b for b in re.findall(r"```yaml\n(.*?)```", OPERATIONS.read_text(), re.S) if "alert: Mediagate" in b
    ]
    return block


def test_the_rule_names_the_exported_series() -> None:
    rule = documented_rule()
    assert "mediagate_storage_errors_total" in rule
    assert metrics.STORAGE_ERRORS._labelnames == ("operation", "reason")
    assert "full" in instrument.REASONS


def promtool_test(tmp_path: Path, full_a: str) -> subprocess.CompletedProcess[str]:
    """Two processes of one job; ``full_a`` is process a's ``reason="full"``
    series, one sample a minute (``_``: no sample)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (make promtool)")
    (tmp_path / "rules.yml").write_text(documented_rule())
    fired = DESCRIPTION.format(value=1)
    (tmp_path / "test.yml").write_text(
        f"""rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '{FULL.format(instance="a", reason="full")}'
        values: '{full_a}'
      - series: '{FULL.format(instance="b", reason="full")}'
        values: '0 0 0 0 0 0 0 0 0 0 0 0'
      - series: '{FULL.format(instance="a", reason="other")}'
        values: '0 5 9 9 9 9 9 9 9 9 9 9'
    alert_rule_test:
      - eval_time: 2m
        alertname: MediagateMediaStorageFull
        exp_alerts: []
      - eval_time: 4m
        alertname: MediagateMediaStorageFull
        exp_alerts:
          - exp_labels: {{job: mediagate, severity: page}}
            exp_annotations:
              summary: "mediagate cannot store media: the media volume is full"
              description: "{fired}"
      - eval_time: 11m
        alertname: MediagateMediaStorageFull
        exp_alerts: []
"""
    )
    return subprocess.run(
        [promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )


def test_the_rule_fires_on_the_first_full_write_and_clears(tmp_path: Path) -> None:
    # The series exists at 0 from the start (instrument.count_storage_errors); one write fails at minute 3.
    done = promtool_test(tmp_path, "0 0 0 1 1 1 1 1 1 1 1 1")
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_the_zero_series_the_first_failure_would_not_fire(tmp_path: Path) -> None:
    """Why the series is created at 0: a counter that first appears at 1 has
    no increase() for Prometheus, and the first full disk would pass unseen."""
    done = promtool_test(tmp_path, "_ _ _ 1 1 1 1 1 1 1 1 1")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "alertname: MediagateMediaStorageFull, time: 4m" in out  # expected to fire, and
    assert "got:[]" in out  # did not
