"""Files the server writes are private to its user (issue 8, item 10): the data
folder and every folder under it 0700, the SQLite database with its -wal/-shm
and every media file 0600, even under the common umask 022."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import BACKENDS
from tests.support.clients import settled_message
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import RunningServer


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The server process inherits the test process's umask."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("backend", BACKENDS)
def test_data_folder_database_and_media_are_private(
    backend: str, server_factory: Callable[..., RunningServer], files: FileServer
) -> None:
    server = server_factory(backend)
    acct = server.new_account("modes")
    url = files.add(f"/modes/{acct.sid}/pic.png", png_bytes(2000))
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": url},
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    settled_message(server, acct, r.json()["sid"])  # stored after the create answered
    data_dir = server.runtime.settings.data_dir
    media_files = [p for p in (data_dir / "media" / acct.sid).rglob("*") if p.is_file()]
    assert len(media_files) == 1
    folders = [data_dir, *(p for p in data_dir.rglob("*") if p.is_dir())]
    assert {str(p): oct(mode(p)) for p in folders if mode(p) != 0o700} == {}
    private = [*media_files, data_dir / "secret.key"] if (data_dir / "secret.key").exists() else media_files
    if backend == "sqlite":
        db = Path(server.env["MEDIAGATE_DATABASE_URL"].split("///", 1)[1])
        private += list(db.parent.glob(db.name + "*"))
        assert any(p.name.endswith("-wal") for p in private)
    assert {str(p): oct(mode(p)) for p in private if mode(p) != 0o600} == {}
