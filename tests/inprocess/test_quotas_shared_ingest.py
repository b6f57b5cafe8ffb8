"""The hourly ingest quota counted in Redis, shared by every process, with the app in
process (tests/support/inprocess.py) on every database.

"Another process" is a second ``IngestMeter`` on the same Redis and key prefix:
what a second ``mediagate serve`` process's runtime holds. The end-to-end version
(``--workers 2`` under granian, tests/e2e/test_quotas.py) is a several-process test
and runs in ``make test-system`` (issue 22); this one keeps the shared counter and the
create's 429 / 20429 with ``Retry-After`` in ``make test``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediagate.accounts.quotas import IngestMeter
from tests.conftest import BACKENDS
from tests.e2e.test_quotas import png_url
from tests.support.clients import assert_twilio_error
from tests.support.fileserver import FileServer
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.loops import eventually
from tests.support.server import Account
from tests.support.shared_redis import REDIS_URL
from tests.support.stored import stored_keys

LIMIT = 3


def create(srv: InProcessServer, acct: Account, files: FileServer) -> tuple[int, str, dict[str, str]]:
    r = srv.http.post(
        f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": png_url(files)},
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    if r.status_code == 429:
        body = assert_twilio_error(r, 429, 20429)
        assert "Ingest quota exceeded" in body["message"]
        assert int(r.headers["Retry-After"]) >= 1
        return r.status_code, "", dict(r.headers)
    assert r.status_code == 201, r.text
    sid: str = r.json()["sid"]

    def settled() -> bool:
        got = srv.http.get(
            f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json",
            auth=(acct.sid, acct.token),
            timeout=30,
        ).json()
        return got["status"] != "queued"

    eventually(settled)  # the media are fetched after the create answered
    return r.status_code, sid, dict(r.headers)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hourly_ingest_is_shared_with_another_process_through_redis(
    backend: str, tmp_path: Path, files: FileServer, redis_prefix: str
) -> None:
    with in_process_server(
        backend, tmp_path, redis_url=REDIS_URL, redis_key_prefix=redis_prefix, quota_ingest_per_hour=LIMIT
    ) as srv:
        other = IngestMeter(REDIS_URL, redis_prefix)  # a second process's counter
        acct = srv.new_account("quota-hourly")
        statuses = [create(srv, acct, files)[0]]
        assert other.used(acct.sid, LIMIT) == 1  # the app's count is visible to the other process
        assert other.take(acct.sid, LIMIT, 1) is None  # the other process stores one medium
        statuses.append(create(srv, acct, files)[0])
        statuses += [create(srv, acct, files)[0] for _ in range(2)]
        # Three in the hour in all (two here, one there): the app refuses the rest,
        # and so does the other process.
        assert statuses == [201, 201, 429, 429]
        wait = other.take(acct.sid, LIMIT, 1)
        assert wait is not None and wait >= 1
        assert other.used(acct.sid, LIMIT) == LIMIT
        assert len(stored_keys(srv.runtime, acct.sid)) == 2
