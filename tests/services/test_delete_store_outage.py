"""A media or message delete while the object store refuses (issue 23, left from finding 5).

Before: the row was deleted, then the object's delete failed and the client heard
503, while a retry answered 404 — a delete reported as failed that had happened.
Now (media/removal.py): where only mediagate serves the objects (edge delivery), no
reader reaches an object without its row, so the delete is answered 204 and the
object is left to gc; where presigned URLs are out, the object's delete *is* the
revocation, so it goes first and a refusing store fails the request with nothing
changed. Real parts: SeaweedFS behind a TCP proxy this test stops (connections
refused, as a killed store), both databases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from mediagate.accounts import accounts
from mediagate.db.models import Media
from mediagate.media import maintenance
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.inprocess import app_session
from tests.support.seaweed import ObjectStore
from tests.support.stored import exists, message_with_media
from tests.support.tcpproxy import TcpProxy, tcp_proxy


@pytest.fixture
def proxy(object_store: ObjectStore) -> Iterator[TcpProxy]:
    endpoint = urlsplit(object_store.endpoint_url)
    with tcp_proxy(endpoint.hostname or "127.0.0.1", endpoint.port or 80) as p:
        yield p


def _runtime(make_runtime: MakeRuntime, object_store: ObjectStore, proxy: TcpProxy, delivery: str) -> Runtime:
    return make_runtime(
        storage_url=f"s3://{object_store.new_bucket()}/outage",
        s3_endpoint_url=f"http://127.0.0.1:{proxy.port}",
        delivery=delivery,
        store_connect_timeout=1.0,
        store_read_timeout=1.0,
        store_attempts=1,
        gc_interval=0,
    )


def _key(rt: Runtime, media_sid: str) -> str:
    with rt.sessions() as session:
        row = session.get(Media, media_sid)
        assert row is not None
        return row.storage_key


def test_edge_delivery_answers_the_delete_and_leaves_the_object_to_gc(
    make_runtime: MakeRuntime, object_store: ObjectStore, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    rt = _runtime(make_runtime, object_store, proxy, "edge")
    created = accounts.create(rt, "outage-edge")
    sid, token = created.account.sid, created.auth_token
    msg, med = message_with_media(rt, sid)
    other_msg, other_med = message_with_media(rt, sid)
    key, other_key = _key(rt, med), _key(rt, other_med)
    with app_session(rt) as http:
        proxy.stop()
        with caplog.at_level(logging.WARNING, logger="mediagate.media"):
            media_delete = http.delete(
                f"/2010-04-01/Accounts/{sid}/Messages/{msg}/Media/{med}.json", auth=(sid, token)
            )
            message_delete = http.delete(
                f"/2010-04-01/Accounts/{sid}/Messages/{other_msg}.json", auth=(sid, token)
            )
        assert media_delete.status_code == 204, media_delete.text
        assert message_delete.status_code == 204, message_delete.text
        # Gone for every reader at once: the rows are.
        again = http.get(f"/2010-04-01/Accounts/{sid}/Messages/{msg}/Media/{med}", auth=(sid, token))
        assert again.status_code == 404
        assert (
            http.get(f"/2010-04-01/Accounts/{sid}/Messages/{other_msg}.json", auth=(sid, token)).status_code
            == 404
        )
    left = [r.getMessage() for r in caplog.records if "left for `mediagate media gc`" in r.getMessage()]
    assert any(key in line for line in left) and any(other_key in line for line in left), left
    assert all(token not in r.getMessage() for r in caplog.records)
    proxy.start()
    # The objects outlived their rows; gc (past its grace) removes them.
    assert exists(rt, key) and exists(rt, other_key)
    assert maintenance.collect_garbage(rt, grace_seconds=0) >= 2
    assert not exists(rt, key) and not exists(rt, other_key)


def test_presigned_urls_out_the_delete_fails_with_nothing_changed(
    make_runtime: MakeRuntime, object_store: ObjectStore, proxy: TcpProxy
) -> None:
    rt = _runtime(make_runtime, object_store, proxy, "presign")
    created = accounts.create(rt, "outage-presign")
    sid, token = created.account.sid, created.auth_token
    msg, med = message_with_media(rt, sid)
    other_msg, _ = message_with_media(rt, sid)
    key = _key(rt, med)
    media_url = f"/2010-04-01/Accounts/{sid}/Messages/{msg}/Media/{med}.json"
    with app_session(rt) as http:
        proxy.stop()
        refused = http.delete(media_url, auth=(sid, token))
        refused_message = http.delete(
            f"/2010-04-01/Accounts/{sid}/Messages/{other_msg}.json", auth=(sid, token)
        )
        for answer in (refused, refused_message):
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"]
            assert answer.json()["code"] == 20503
        # Nothing changed: the media and the message are still listed.
        assert http.get(media_url, auth=(sid, token)).status_code == 200
        assert (
            http.get(f"/2010-04-01/Accounts/{sid}/Messages/{other_msg}.json", auth=(sid, token)).status_code
            == 200
        )
        proxy.start()
        assert exists(rt, key)
        # The retry the 503 asked for does it.
        assert http.delete(media_url, auth=(sid, token)).status_code == 204
        assert (
            http.delete(
                f"/2010-04-01/Accounts/{sid}/Messages/{other_msg}.json", auth=(sid, token)
            ).status_code
            == 204
        )
        assert not exists(rt, key)
        assert http.get(media_url, auth=(sid, token)).status_code == 404


def test_an_unknown_media_is_404_before_the_store_is_asked(
    make_runtime: MakeRuntime, object_store: ObjectStore, proxy: TcpProxy
) -> None:
    """Presign delivery reads the row before deleting the object: another
    account's media or message (or none) answers 404 and the object stays."""
    rt = _runtime(make_runtime, object_store, proxy, "presign")
    owner = accounts.create(rt, "owner")
    stranger = accounts.create(rt, "stranger")
    msg, med = message_with_media(rt, owner.account.sid)
    key = _key(rt, med)
    with app_session(rt) as http:
        stranger_auth = (stranger.account.sid, stranger.auth_token)
        api = f"/2010-04-01/Accounts/{stranger.account.sid}"
        assert http.delete(f"{api}/Messages/{msg}/Media/{med}.json", auth=stranger_auth).status_code == 404
        assert http.delete(f"{api}/Messages/{msg}.json", auth=stranger_auth).status_code == 404
    assert exists(rt, key)
