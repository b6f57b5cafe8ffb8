"""Crash consistency of ingest: kill the server at chosen points, restart, check.

The server dies by ``os._exit(137)`` at a deterministic point
(``MEDIAGATE_TEST_CRASH_AT``, test-only): mid-fetch (an object half written
to its temp file), after the objects are written and before the rows, and
after the rows are committed but before the response. Each case first gets
one message acknowledged (201), then crashes on the next. After a restart
with a short gc interval and grace, the automatic cleanup must leave:
everything acknowledged intact, no temp files, no objects without a row, and
a file for every row.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from mediagate.db.models import Media
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account, RunningServer, running_server

pytestmark = pytest.mark.e2e

TIMEOUT = 60


def send(server: RunningServer, acct: Account, urls: list[str]) -> requests.Response:
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": urls},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )


def stored_files(media_dir: Path) -> set[str]:
    return {f"{p.parent.parent.name}/{p.name}" for p in media_dir.glob("AC*/*/ME*")}


def temp_files(media_dir: Path) -> list[Path]:
    return list((media_dir / ".tmp").glob("*"))


def media_keys(server: RunningServer) -> set[str]:
    with server.runtime.sessions() as session:
        return set(session.scalars(select(Media.storage_key)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("point", ["mid-fetch", "after-object-write", "after-row"])
def test_crash_during_ingest_then_restart(
    backend: str, point: str, tmp_path: Path, files: FileServer
) -> None:
    data = tmp_path / "data"
    media_dir = data / "media"
    secret = secrets.token_hex(32)
    first = files.add(f"/crash/{point}/{backend}/first.png", png_bytes(10_000))
    # Big enough to arrive in several chunks, so "mid-fetch" leaves a partial temp file.
    big = [files.add(f"/crash/{point}/{backend}/big{i}.png", png_bytes(3_000_000 + i)) for i in range(1)]
    small = files.add(f"/crash/{point}/{backend}/small.png", png_bytes(20_000))
    with fresh_database(backend, tmp_path) as url:
        with running_server(
            data, url, MEDIAGATE_SECRET_KEY=secret, MEDIAGATE_TEST_CRASH_AT=f"{point}@2"
        ) as a:
            acct = a.new_account("crash")
            acked = send(a, acct, [first])
            assert acked.status_code == 201, acked.text
            acked_sid = acked.json()["sid"]
            with pytest.raises(requests.ConnectionError):
                send(a, acct, [*big, small])
            assert a.process.wait(60) == 137
            if point == "mid-fetch":
                assert temp_files(media_dir), "the crash should have left a partial temp file"
            if point == "after-object-write":
                assert stored_files(media_dir) - media_keys(a), "the crash should have left orphan objects"

        with running_server(
            data, url, MEDIAGATE_SECRET_KEY=secret, MEDIAGATE_GC_INTERVAL="0.5", MEDIAGATE_GC_GRACE="1"
        ) as b:
            # The scheduled gc (it also runs at start) cleans up by itself.
            deadline = time.monotonic() + 60
            while temp_files(media_dir) or stored_files(media_dir) != media_keys(b):
                assert time.monotonic() < deadline, (
                    f"not cleaned up: temp={temp_files(media_dir)} "
                    f"orphans={stored_files(media_dir) - media_keys(b)} "
                    f"missing={media_keys(b) - stored_files(media_dir)}\n{b.log()}"
                )
                time.sleep(0.2)

            # Nothing acknowledged is lost: the first message and its bytes are intact.
            auth = (acct.sid, acct.token)
            base = f"{b.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{acked_sid}"
            msg = requests.get(f"{base}.json", auth=auth, timeout=TIMEOUT)
            assert msg.status_code == 200 and msg.json()["num_media"] == "1", msg.text
            (media,) = requests.get(f"{base}/Media.json", auth=auth, timeout=TIMEOUT).json()["media_list"]
            got = requests.get(f"{base}/Media/{media['sid']}", auth=auth, timeout=TIMEOUT)
            assert got.status_code == 200 and got.content == png_bytes(10_000)

            # Every message's num_media matches its rows, and each row's object exists.
            listed = requests.get(
                f"{b.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json", auth=auth, timeout=TIMEOUT
            ).json()["messages"]
            for m in listed:
                rows = requests.get(
                    f"{b.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{m['sid']}/Media.json",
                    auth=auth,
                    timeout=TIMEOUT,
                ).json()["media_list"]
                assert int(m["num_media"]) == len(rows), m
            expected_messages = 2 if point == "after-row" else 1
            assert len(listed) == expected_messages, listed
            assert stored_files(media_dir) == media_keys(b)
            assert not temp_files(media_dir)
