"""``mediagate media gc`` on orphaned objects, on the local disk and on S3 (SeaweedFS),
on SQLite and PostgreSQL (``make_runtime``). Moved from tests/e2e/test_media_hosts.py,
where a server of its own was started per storage only to store one media: the
command works on the database and the store, not on a server (its executable run is
test_retention's)."""

from __future__ import annotations

from typing import Any

import pytest

from mediagate.accounts import accounts
from mediagate.storage import media_key
from tests.conftest import MakeRuntime
from tests.support.cli import run_cli
from tests.support.fileserver import png_bytes
from tests.support.seaweed import ObjectStore
from tests.support.stored import exists, message_with_media, read, stored_keys


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_gc_cli_removes_orphans_past_the_grace_only(
    make_runtime: MakeRuntime, request: pytest.FixtureRequest, storage: str
) -> None:
    """A crash between storing bytes and committing their row leaves an orphan object;
    ``mediagate media gc`` (run in this process, tests/support/cli.py; on a store of its
    own so no other test's objects are in play) removes it once older than the grace
    period and keeps what rows refer to."""
    s3: dict[str, Any] = {}
    env: dict[str, str] = {}
    if storage == "s3":
        object_store: ObjectStore = request.getfixturevalue("object_store")
        env = object_store.env(prefix="gc")  # a new bucket
        s3 = {
            "storage_url": env["MEDIAGATE_STORAGE_URL"],
            "s3_endpoint_url": env["MEDIAGATE_S3_ENDPOINT_URL"],
        }
    rt = make_runtime(**s3)
    acct = accounts.create(rt, "gc").account.sid
    _, kept_sid = message_with_media(rt, acct)
    kept = media_key(acct, kept_sid)
    orphan = media_key(acct, "ME" + "9" * 32)
    rt.store.put(orphan, [b"bytes whose row never committed"])
    env = {
        **env,
        "MEDIAGATE_DATA_DIR": str(rt.settings.data_dir),
        "MEDIAGATE_DATABASE_URL": rt.settings.database_url,
        "MEDIAGATE_SECRET_KEY": rt.settings.secret_key,
    }

    def gc(grace: str) -> str:
        done = run_cli(env, "media", "gc", "--grace", grace)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "removed 0 orphaned objects" in gc("3600")  # young: maybe its row is being committed
    assert exists(rt, orphan)
    # A negative grace makes every object old, so only the rows decide.
    assert "removed 1 orphaned objects" in gc("-60")
    assert not exists(rt, orphan)
    assert stored_keys(rt, acct) == [kept]
    assert read(rt, kept) == png_bytes(300)  # what message_with_media stored, untouched
