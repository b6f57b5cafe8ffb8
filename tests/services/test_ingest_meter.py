"""The hourly ingest counter (services/quotas.IngestMeter): in memory and in Redis."""

from __future__ import annotations

import secrets

import pytest

from mediagate.accounts.quotas import IngestMeter


@pytest.mark.parametrize("where", ["memory", "redis"])
def test_counts_media_per_account_and_says_how_long_to_wait(where: str) -> None:
    prefix = f"test-meter-{secrets.token_hex(6)}"  # a key space of its own in the shared Redis
    meter = IngestMeter("redis://127.0.0.1:6379/0" if where == "redis" else "", prefix)
    a, b = "AC" + secrets.token_hex(16), "AC" + secrets.token_hex(16)
    assert meter.take(a, 5, 3) is None
    assert meter.take(a, 5, 2) is None
    assert meter.used(a, 5) == 5
    wait = meter.take(a, 5, 1)
    assert wait is not None and 1 <= wait <= 3601
    # A refused request is not counted, and other accounts are not affected.
    assert meter.used(a, 5) == 5
    assert meter.take(b, 5, 5) is None
    # More than the limit in one request is refused whole.
    assert meter.take("AC" + secrets.token_hex(16), 5, 6) is not None


def test_two_meters_share_one_redis_count() -> None:
    """Two processes' meters (same Redis, same prefix) see one count."""
    prefix = f"test-meter-{secrets.token_hex(6)}"
    one, two = (IngestMeter("redis://127.0.0.1:6379/0", prefix) for _ in range(2))
    acct = "AC" + secrets.token_hex(16)
    assert one.take(acct, 4, 3) is None
    assert two.take(acct, 4, 2) is not None
    assert two.take(acct, 4, 1) is None
    assert one.used(acct, 4) == 4
