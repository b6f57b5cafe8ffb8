"""What happens to MediaUrl fetches, a sample over the real server on each database: the create
answers ``queued`` at once; a failure makes the message ``failed`` with Twilio's error code and
stores nothing; a success keeps bytes, type and filename. Every case, on every (database,
storage) shape, S3 included, runs with the app in process: tests/inprocess/test_api_ingest.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy import select
from twilio.rest import Client

from mediagate.db.models import Media

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_ingest import (  # noqa: F401
    test_missing_media_fails_with_11200,
    test_success_stores_bytes_and_becomes_sent,
)
from tests.support.fileserver import FileServer
from tests.support.loops import eventually
from tests.support.server import Account, RunningServer
from tests.support.stored import stored_keys, unfinished_writes

MB = 1024 * 1024
# The start of an MP4 file (its ftyp box): the fetch checks a video's bytes too.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
TO = "+15551230001"
FROM = "+15557650001"

# Every case runs on S3 (SeaweedFS) too with the app in process (tests/inprocess/test_api_ingest.py);
# the real server on S3 as well, because only there does granian's bridge stream a
# body it reads from S3 (serving/bridge.py), which nothing in process reaches.
SERVER_STORAGES = ("local", "s3")


@dataclass
class Ctx:
    server: RunningServer
    files: FileServer
    acct: Account
    client: Client

    def url(self, name: str, body: bytes, content_type: str = "image/png", **kw: Any) -> str:
        """A file-server URL private to this account (the file server is shared by the session)."""
        return self.files.add(self.path(name), body, content_type, **kw)

    def path(self, name: str) -> str:
        return f"/ingest/{self.acct.sid}/{name}"

    def create(self, media: list[str], **kw: Any) -> dict[str, Any]:
        r = requests.post(
            f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}/Messages.json",
            data={"To": kw.get("to", TO), "From": kw.get("from_", FROM), "MediaUrl": media, "Body": "media"},
            auth=(self.acct.sid, self.acct.token),
            timeout=30,
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        # Twilio's create answer: queued, no media yet; they are fetched afterwards.
        assert created["status"] == "queued" and created["num_media"] == "0", created
        return self.settled(created["sid"])

    def settled(self, sid: str) -> dict[str, Any]:
        """The message once its media fetch is over (its status has left ``queued``)."""
        url = f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}/Messages/{sid}.json"

        def probe() -> dict[str, Any] | None:
            got: dict[str, Any] = requests.get(url, auth=(self.acct.sid, self.acct.token), timeout=30).json()
            return None if got["status"] == "queued" else got

        return eventually(probe)

    def media_rows(self) -> list[Media]:
        with self.server.runtime.sessions() as session:
            return list(session.scalars(select(Media).where(Media.account_sid == self.acct.sid)))

    def stored_files(self) -> list[str]:
        rt = self.server.runtime
        # Leftovers of aborted writes (temporary files, open multipart uploads) count too.
        return stored_keys(rt, self.acct.sid) + unfinished_writes(rt, self.acct.sid)

    def content(self, message_sid: str, media_sid: str) -> requests.Response:
        return requests.get(
            f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}/Messages/{message_sid}/Media/{media_sid}",
            auth=(self.acct.sid, self.acct.token),
            timeout=30,
        )


@pytest.fixture
def ctx(server: RunningServer, files: FileServer) -> Ctx:
    acct = server.new_account("ingest")
    client = Client(acct.sid, acct.token)
    client.api.base_url = server.base_url
    return Ctx(server, files, acct, client)


# --------------------------------------------------------------------------- failures


# --------------------------------------------------------------------------- successes
