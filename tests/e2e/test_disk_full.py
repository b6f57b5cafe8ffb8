"""A full media volume: a real (small) tmpfs mounted as the media directory.

The write fails with ENOSPC in the store's real write path; the message
fails with 11200 and a clear message, nothing is left behind, the API
keeps answering (and storing once there is room), and /metrics says the
storage is full (what docs/operations.md's alert rule fires on).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.clients import settled_message
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.scrape import delta, scrape
from tests.support.server import running_server

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = [pytest.mark.e2e, pytest.mark.system]

TIMEOUT = 60


@pytest.fixture
def small_media_volume(tmp_path: Path) -> Iterator[Path]:
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(media)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield media
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_full_disk_fails_the_message_cleanly(
    backend: str, tmp_path: Path, small_media_volume: Path, files: FileServer
) -> None:
    with fresh_database(backend, tmp_path) as url, running_server(tmp_path / "data", url) as server:
        acct = server.new_account("disk-full")
        auth = (acct.sid, acct.token)
        api = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}"
        too_big = files.add(f"/diskfull/{backend}/big.png", png_bytes(3_000_000))
        before = scrape(server)
        # The series is there before the first failure (at 0), so that increase() sees that failure.
        full = ("mediagate_storage_errors_total", frozenset({("operation", "put"), ("reason", "full")}))
        assert before[full] == 0
        created = requests.post(
            f"{api}/Messages.json",
            data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": too_big},
            auth=auth,
            timeout=TIMEOUT,
        )
        assert created.status_code == 201, created.text
        body = settled_message(server, acct, created.json()["sid"])  # fetched after the create answered
        assert body["status"] == "failed" and body["error_code"] == 11200, body
        assert "storage is full" in body["error_message"]
        assert body["num_media"] == "0"
        # Nothing left behind: no object, no temp file.
        assert [p for p in small_media_volume.rglob("*") if p.is_file()] == []
        # Alertable: the store's write failed because it is full, and the message's media failed.
        after = scrape(server)
        assert delta(before, after, "mediagate_storage_errors_total", operation="put", reason="full") == 1
        assert delta(before, after, "mediagate_ingest_failures_total", channel="sms", code="11200") == 1

        # The API stays up, and stores media that fits.
        assert requests.get(f"{server.base_url}/healthz", timeout=TIMEOUT).status_code == 200
        fits = files.add(f"/diskfull/{backend}/small.png", png_bytes(100_000))
        ok = requests.post(
            f"{api}/Messages.json",
            data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": fits},
            auth=auth,
            timeout=TIMEOUT,
        )
        assert ok.status_code == 201 and ok.json()["status"] == "queued", ok.text
        assert settled_message(server, acct, ok.json()["sid"])["num_media"] == "1"
        (media,) = requests.get(
            f"{api}/Messages/{ok.json()['sid']}/Media.json", auth=auth, timeout=TIMEOUT
        ).json()["media_list"]
        got = requests.get(
            f"{api}/Messages/{ok.json()['sid']}/Media/{media['sid']}", auth=auth, timeout=TIMEOUT
        )
        assert got.status_code == 200 and got.content == png_bytes(100_000)
