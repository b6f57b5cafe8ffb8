"""Crash consistency of ingest: kill the server at chosen points, restart, check.

The server dies by ``os._exit(137)`` at a deterministic point
(``MEDIAGATE_TEST_CRASH_AT``, test-only): mid-fetch (an object half written:
to its temp file on the local disk, a multipart upload with its first part
on S3), after the objects are written and before the rows, and after the rows
are committed but before the carrier hand-off. The fetch runs in the background
after the create has answered, so each case first gets one message's media
stored, then crashes while fetching the next one's. After a restart with a short gc
interval and grace, the automatic cleanup must leave: everything acknowledged
intact, no temp files or incomplete multipart uploads, no objects without a
row, a file for every row, and no message stuck in ``queued``.

On the local disk every point runs on both databases; on S3 (a real
SeaweedFS) each point runs on one database, alternating, to keep the file's
runtime bounded: what S3 changes is the store, and the database side of
every point is already covered on both by the local cases.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from mediagate.db.models import Media
from mediagate.messaging import outbox
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.seaweed import ObjectStore
from tests.support.server import Account, RunningServer, running_server

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = [pytest.mark.e2e, pytest.mark.system]

TIMEOUT = 60
# Over one S3 part (8 MiB), so that the upload is multipart and a crash
# mid-fetch leaves an incomplete one; a WhatsApp document, as MMS stops at 5 MB.
S3_BIG = 9 * 1024 * 1024


class Leftovers(Protocol):
    """What a storage backend holds, seen from outside the server."""

    def objects(self) -> set[str]: ...

    def interrupted(self) -> list[str]:
        """Writes a crash left unfinished: temp files, incomplete multipart uploads."""


class LocalLeftovers:
    def __init__(self, media_dir: Path) -> None:
        self.media_dir = media_dir

    def objects(self) -> set[str]:
        return {f"{p.parent.parent.name}/{p.name}" for p in self.media_dir.glob("AC*/*/ME*")}

    def interrupted(self) -> list[str]:
        return [p.name for p in (self.media_dir / ".tmp").glob("*")]


class S3Leftovers:
    def __init__(self, object_store: ObjectStore, bucket: str) -> None:
        self.client = object_store.client()
        self.bucket = bucket

    def objects(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def interrupted(self) -> list[str]:
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return [f"{u['Key']} ({u['UploadId']})" for u in uploads]


def send(
    server: RunningServer, acct: Account, urls: list[str], *, whatsapp: bool = False
) -> requests.Response:
    to, from_ = "+15551230001", "+15557650001"
    if whatsapp:
        to, from_ = f"whatsapp:{to}", f"whatsapp:{from_}"
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": to, "From": from_, "MediaUrl": urls},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )


def media_keys(server: RunningServer) -> set[str]:
    with server.runtime.sessions() as session:
        return set(session.scalars(select(Media.storage_key)))


def settled(server: RunningServer, acct: Account) -> list[dict[str, str]]:
    """The account's messages once none is queued and no hand-off is pending."""
    deadline = time.monotonic() + 60
    while True:
        listed: list[dict[str, str]] = requests.get(
            f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
            auth=(acct.sid, acct.token),
            timeout=TIMEOUT,
        ).json()["messages"]
        if all(m["status"] != "queued" for m in listed) and outbox.pending(server.runtime) == 0:
            return listed
        assert time.monotonic() < deadline, f"stuck: {[(m['sid'], m['status']) for m in listed]}"
        time.sleep(0.2)


CASES = [
    *[(backend, "local", point) for point in ("mid-fetch", "after-object-write", "after-row")
      for backend in ("sqlite", "postgresql")],
    ("postgresql", "s3", "mid-fetch"),
    ("sqlite", "s3", "after-object-write"),
    ("postgresql", "s3", "after-row"),
]  # fmt: skip


@pytest.mark.parametrize(("backend", "storage", "point"), CASES, ids=["-".join(c) for c in CASES])
def test_crash_during_ingest_then_restart(
    backend: str, storage: str, point: str, tmp_path: Path, files: FileServer, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    secret = secrets.token_hex(32)
    where = f"/crash/{point}/{backend}/{storage}"
    first = files.add(f"{where}/first.png", png_bytes(10_000))
    env: dict[str, str] = {"MEDIAGATE_SECRET_KEY": secret}
    left: Leftovers
    if storage == "s3":
        object_store: ObjectStore = request.getfixturevalue("object_store")
        env |= object_store.env()  # a new bucket, the same for both processes
        left = S3Leftovers(object_store, urlsplit(env["MEDIAGATE_STORAGE_URL"]).netloc)
        # One document of two parts. The acknowledged message (a single PUT)
        # passes every point but S3's mid-fetch: that one crashes at its first passage.
        doc = b"%PDF-1.4\n" + b"\x00" * (S3_BIG - 9)
        crashing = [files.add(f"{where}/big.pdf", doc, content_type="application/pdf")]
        nth = 1 if point == "mid-fetch" else 2
    else:
        left = LocalLeftovers(data / "media")
        # Big enough to arrive in several chunks, so "mid-fetch" leaves a partial temp file.
        crashing = [
            files.add(f"{where}/big.png", png_bytes(3_000_000)),
            files.add(f"{where}/small.png", png_bytes(20_000)),
        ]
        nth = 2
    # A fetch whose process died is taken up again once its claim lapses: a short
    # lease keeps this test about the crash, not about waiting out the default.
    env["MEDIAGATE_MEDIA_FETCH_LEASE"] = "1"
    with fresh_database(backend, tmp_path) as url:
        with running_server(data, url, MEDIAGATE_TEST_CRASH_AT=f"{point}@{nth}", **env) as a:
            acct = a.new_account("crash")
            acked = send(a, acct, [first])
            assert acked.status_code == 201, acked.text
            acked_sid = acked.json()["sid"]
            # Its hand-off done first: a crash during it would hold its outbox claim
            # for the lease (30 s, docs/operations.md), a wait this test is not about.
            settled(a, acct)
            # The create answers at once; the background fetch is what crashes (the
            # answer may or may not get out before the process dies).
            with contextlib.suppress(requests.ConnectionError):
                crashed = send(a, acct, crashing, whatsapp=storage == "s3")
                assert crashed.status_code == 201, crashed.text
            assert a.process.wait(60) == 137
            if point == "mid-fetch":
                assert left.interrupted(), "the crash should have left an unfinished write"
            if point == "after-object-write":
                assert left.objects() - media_keys(a), "the crash should have left orphan objects"

        with running_server(data, url, MEDIAGATE_GC_INTERVAL="0.5", MEDIAGATE_GC_GRACE="1", **env) as b:
            # The scheduled gc (it also runs at start) cleans up by itself.
            deadline = time.monotonic() + 60
            while left.interrupted() or left.objects() != media_keys(b):
                assert time.monotonic() < deadline, (
                    f"not cleaned up: unfinished={left.interrupted()} "
                    f"orphans={left.objects() - media_keys(b)} "
                    f"missing={media_keys(b) - left.objects()}\n{b.log()}"
                )
                time.sleep(0.2)

            # Nothing acknowledged is lost: the first message and its bytes are intact.
            auth = (acct.sid, acct.token)
            api = f"{b.base_url}/2010-04-01/Accounts/{acct.sid}"
            base = f"{api}/Messages/{acked_sid}"
            msg = requests.get(f"{base}.json", auth=auth, timeout=TIMEOUT)
            assert msg.status_code == 200 and msg.json()["num_media"] == "1", msg.text
            (media,) = requests.get(f"{base}/Media.json", auth=auth, timeout=TIMEOUT).json()["media_list"]
            got = requests.get(f"{base}/Media/{media['sid']}", auth=auth, timeout=TIMEOUT)
            assert got.status_code == 200 and got.content == png_bytes(10_000)

            # None stays queued (the fetch the crash interrupted is resumed, one
            # committed before the crash is handed off by the outbox), and every
            # message's num_media matches its rows.
            listed = settled(b, acct)
            for m in listed:
                rows = requests.get(
                    f"{api}/Messages/{m['sid']}/Media.json", auth=auth, timeout=TIMEOUT
                ).json()["media_list"]
                assert int(m["num_media"]) == len(rows), m
            # The create was committed before the fetch began: the message is kept and
            # its media are stored by the restarted process.
            assert len(listed) == 2, listed
            assert all(m["status"] != "failed" for m in listed), listed
            assert left.objects() == media_keys(b)
            assert not left.interrupted()
