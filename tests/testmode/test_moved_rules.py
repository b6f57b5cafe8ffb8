"""In test mode the rules that read time follow ``POST /v1/Testing/Clock``, on SQLite and
PostgreSQL: retention ages and the hourly ingest quota's window."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from mediagate.accounts import accounts, quotas
from mediagate.db.models import Media
from mediagate.retention import rules as retention
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.stored import message_with_media
from tests.testmode.conftest import drive


def _advance(rt: Runtime, seconds: int) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        r = await client.post("/v1/Testing/Clock", data={"AdvanceSeconds": str(seconds)})
        assert r.status_code == 200, r.text

    drive(rt, steps)


def test_retention_ages_follow_the_clock(test_rt: Runtime) -> None:
    account = accounts.create(test_rt, "retained").account.sid
    _, media_sid = message_with_media(test_rt, account)
    retention.set_rule(test_rt, account, retention.Change(days_after_creation=1), actor="t", via="test")
    assert [c for step in retention.apply(test_rt) for c in step.media] == []  # not a day old yet
    _advance(test_rt, 86401)
    deleted = [c.media_sid for step in retention.apply(test_rt) for c in step.media]
    assert deleted == [media_sid]
    with test_rt.sessions() as session:
        assert session.scalar(select(Media.sid).where(Media.sid == media_sid)) is None


def test_the_ingest_quota_window_follows_the_clock(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(test_mode=True, quota_ingest_per_hour=2)
    account = accounts.create(rt, "quota").account.sid
    quotas.admit(rt, account, 2)
    with pytest.raises(quotas.IngestRateExceeded):
        quotas.admit(rt, account, 1)
    _advance(rt, 2 * 3600)  # the window has passed
    quotas.admit(rt, account, 2)
