"""The test mode's parts, held by the runtime (``Runtime.testing``) when it is on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mediagate.core.clock import OffsetClock
from mediagate.testmode.faults import Faults
from mediagate.testmode.journal import Journal


@dataclass
class TestMode:
    __test__ = False  # not a pytest test class, whatever its name says

    clock: OffsetClock  # the runtime's clock: every rule reads it
    faults: Faults
    journal: Journal

    def clock_json(self) -> dict[str, object]:
        now = datetime.fromtimestamp(self.clock.time(), UTC)
        return {
            "now": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "offset_seconds": self.clock.offset,
        }
