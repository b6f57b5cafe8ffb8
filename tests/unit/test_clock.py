"""The injected clock (core/clock.py) and the in-process rules that read it without a
database: signed-URL expiry and key adoption, the hourly ingest window. Time is
moved, never waited for."""

from __future__ import annotations

import math
import os
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest

from mediagate.accounts.quotas import IngestMeter
from mediagate.core import settings
from mediagate.core.clock import Clock, ManualClock, OffsetClock, SystemClock, on_advance
from mediagate.media.signing import SignatureExpired, Signer, SigningKeyMaterial

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PATH = "/AC" + "1" * 32 + "/ME" + "1" * 32


def test_the_system_clock_is_the_wall_clock_in_utc() -> None:
    clock = SystemClock()
    before = time.time()
    now, epoch = clock.now(), clock.time()
    after = time.time()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before - 1 <= now.timestamp() <= after + 1
    assert before <= epoch <= after
    assert isinstance(clock, Clock)


def test_a_manual_clock_stands_still_until_advanced_by_exactly_the_step() -> None:
    clock = ManualClock(START)
    assert clock.now() == START and clock.time() == START.timestamp()
    clock.advance(14401)
    assert clock.now() == START + timedelta(seconds=14401)
    clock.advance(0.25)
    assert clock.time() == START.timestamp() + 14401.25
    assert clock.now().tzinfo is not None and clock.now().utcoffset() == timedelta(0)


@pytest.mark.parametrize("step", [0, -1, -0.001, math.nan, math.inf])
def test_no_clock_moves_backwards_or_by_nothing(step: float) -> None:
    manual, offset = ManualClock(START), OffsetClock(ManualClock(START))
    for clock in (manual, offset):
        with pytest.raises(ValueError, match="forward"):
            clock.advance(step)
        assert clock.now() == START  # a refused step changes nothing


def test_a_manual_clock_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2030, 1, 1))  # naive: refused
    assert ManualClock(START.timestamp()).now() == START


def test_an_offset_clock_flows_with_its_base_and_jumps_by_its_offset() -> None:
    base = ManualClock(START)
    clock = OffsetClock(base)
    assert clock.offset == 0 and clock.now() == START
    base.advance(10)  # the base's time flows through
    assert clock.now() == START + timedelta(seconds=10)
    clock.advance(3600)
    clock.advance(1.5)
    assert clock.offset == 3601.5
    assert clock.now() == START + timedelta(seconds=3611.5)
    clock.reset()  # only for a reset of all state (the test mode's Reset)
    assert clock.offset == 0 and clock.now() == START + timedelta(seconds=10)
    with pytest.raises(ValueError, match="offset"):
        OffsetClock(base, offset=-1)


def test_an_offset_clock_over_the_system_clock_is_ahead_by_its_offset() -> None:
    clock = OffsetClock(offset=86400)
    assert clock.time() - time.time() == pytest.approx(86400, abs=1)


def test_listeners_hear_every_step_and_the_system_clock_has_none() -> None:
    clock = ManualClock(START)
    heard: list[float] = []
    on_advance(clock, lambda: heard.append(clock.time()))
    clock.advance(5)
    clock.advance(7)
    assert heard == [START.timestamp() + 5, START.timestamp() + 12]
    on_advance(SystemClock(), lambda: heard.append(0))()  # accepted, never called: it cannot be moved
    assert len(heard) == 2


def test_a_stopped_listener_hears_nothing_more() -> None:
    clock = ManualClock(START)
    heard: list[str] = []
    forget_a = on_advance(clock, lambda: heard.append("a"))
    on_advance(clock, lambda: heard.append("b"))
    clock.advance(1)
    forget_a()
    forget_a()  # twice is harmless: a stop may run more than once
    clock.advance(1)
    assert heard == ["a", "b", "b"]


# ---------------------------------------------------------------- signed URLs


def _signer(clock: Clock, *keys: SigningKeyMaterial, ttl: int = 14400) -> Signer:
    return Signer(lambda: list(keys), ttl, refresh_seconds=3600, clock=clock)


def _key(kid: str, created: float = 0.0) -> SigningKeyMaterial:
    return SigningKeyMaterial(kid=kid, secret=secrets.token_bytes(32), active=True, created=created)


def _verify(signer: Signer, query: str) -> int:
    p = dict(item.split("=", 1) for item in query.split("&"))
    return signer.verify(PATH, p["Expires"], p["Signature"], p["Key-Pair-Id"], p["Issued"])


def test_a_signed_url_expires_exactly_when_the_clock_passes_its_expiry() -> None:
    clock = ManualClock(START)
    signer = _signer(clock, _key("KI-a"))
    query = signer.sign(PATH)
    assert f"Expires={int(START.timestamp()) + 14400}&" in query
    assert _verify(signer, query) == int(START.timestamp() * 1000)  # Issued: the clock's time
    clock.advance(14400)  # the last valid second
    assert _verify(signer, query) == int(START.timestamp() * 1000)
    clock.advance(1)  # 14401 s after issue, as the test mode's example
    with pytest.raises(SignatureExpired):
        _verify(signer, query)


def test_a_new_key_signs_once_the_clock_passes_its_adoption_time() -> None:
    clock = ManualClock(START)
    now = START.timestamp()
    signer = _signer(clock, _key("KI-old", now - 86400), _key("KI-new", now))
    adopt = signer.adopt_after  # two refresh intervals
    assert "Key-Pair-Id=KI-old" in signer.sign(PATH)
    clock.advance(adopt)  # published exactly adopt_after ago: adopted
    assert "Key-Pair-Id=KI-new" in signer.sign(PATH)


def test_without_a_clock_the_signer_reads_the_system_clock() -> None:
    signer = Signer(lambda: [_key("KI-a")], 600)
    expires = int(dict(p.split("=", 1) for p in signer.sign(PATH).split("&"))["Expires"])
    assert abs(expires - (time.time() + 600)) <= 2


# ---------------------------------------------------------------- the hourly ingest window


@pytest.mark.parametrize("where", ["memory", "redis"])
def test_the_ingest_window_slides_with_the_clock(where: str) -> None:
    # On the hour, so the windows are easy to follow.
    clock = ManualClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    prefix = f"test-meter-{secrets.token_hex(6)}"
    meter = IngestMeter("redis://127.0.0.1:6379/0" if where == "redis" else "", prefix, clock)
    acct = "AC" + secrets.token_hex(16)
    assert meter.take(acct, 10, 10) is None
    # Full: one more waits for the next hour, where the 10 are the previous
    # window, weighted by the part of it still in the last 3600 s (rounded down).
    assert meter.take(acct, 10, 1) == 3601
    assert meter.take(acct, 10, 6) == 3600 + 1800 + 1  # 10 weigh 4 half way through
    assert meter.used(acct, 10) == 10
    clock.advance(3600)  # the next hour starts: weight 1, still full for one more second
    assert meter.take(acct, 10, 1) == 1
    clock.advance(1800)  # half way: they count as 5
    assert meter.used(acct, 10) == 5
    assert meter.take(acct, 10, 5) is None
    assert meter.take(acct, 10, 1) is not None
    clock.advance(7200)  # two hours later nothing is left in the window
    assert meter.used(acct, 10) == 0
    assert meter.take(acct, 10, 10) is None


# ---------------------------------------------------------------- leases and intervals are settings


def test_the_leases_and_intervals_default_to_the_former_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEDIAGATE_"):
            monkeypatch.delenv(name)
    s = settings.load()
    assert (s.webhook_timeout, s.webhook_lease, s.webhook_max_backoff, s.webhook_poll_interval) == (
        10,
        15,
        600,
        0.5,
    )
    assert (s.outbox_lease, s.outbox_poll_interval, s.shared_slot_lease) == (30, 0.5, 15)
    assert s.access_audit_retention_interval == 3600


def test_a_lease_from_the_environment_is_read_and_a_bad_one_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAGATE_WEBHOOK_LEASE", "4")
    assert settings.load().webhook_lease == 4
    monkeypatch.setenv("MEDIAGATE_WEBHOOK_LEASE", "0")
    with pytest.raises(settings.SettingsError, match=r"MEDIAGATE_WEBHOOK_LEASE='0' is not valid.*>= 0\.3"):
        settings.load()
    (warning,) = settings.unknown_variables({"MEDIAGATE_OUTBOX_LEASE": "5", "MEDIAGATE_WEBHOOK_LEAS": "5"})
    assert warning.startswith("MEDIAGATE_WEBHOOK_LEAS is not") and warning.endswith(
        "MEDIAGATE_WEBHOOK_LEASE?"
    )
