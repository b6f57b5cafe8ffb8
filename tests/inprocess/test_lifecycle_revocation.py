"""Early revocation in presign delivery with the app in process (tests/support/api_inprocess.py),
on SQLite and PostgreSQL, the bytes in a real S3 store (SeaweedFS): revoking moves the
objects, so S3 itself refuses the presigned URLs handed out before.

These were end-to-end tests on a presign server of their own per database
(tests/e2e/test_revocation_audit.py, which keeps the revocations on the secured host, whose
local-file answers the real server gives on its RSGI fast path). A presign redirect never
takes the fast path (remote storage goes to the Starlette routes, serving/fast.py), and
the URL is fetched from S3 itself, not from us: nothing here crosses our process boundary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from mediagate.db.models import Media
from tests.conftest import BACKENDS
from tests.support.api_inprocess import ApiServer, shape_app
from tests.support.clients import twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.media_steps import StoredMedia, one_media, send_media
from tests.support.stored import exists

TIMEOUT = 30
TTL = 900


@pytest.fixture(scope="module", params=BACKENDS)
def presign(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An app that stores media in S3 and redirects straight to presigned GETs."""
    tmp = tmp_path_factory.mktemp(f"revoke-presign-{request.param}")
    with shape_app(request, request.param, "s3", tmp, delivery="presign", signed_url_ttl=TTL) as srv:
        yield srv


def redirect(srv: ApiServer, m: StoredMedia) -> str:
    r = srv.http.get(
        m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=False
    )
    assert r.status_code == 307, r.text
    assert r.headers["Cache-Control"] == "no-store"
    location: str = r.headers["Location"]
    assert not location.startswith(srv.base_url)  # straight to the object store
    return location


def revoke_media(srv: ApiServer, m: StoredMedia) -> dict[str, object]:
    """Through twilio-python's own request building (our route has no generated wrapper)."""
    client = twilio_client(srv, m.account.sid, m.account.token)
    url = f"{srv.base_url}/v1/Accounts/{m.account.sid}/Media/{m.media_sid}/Revocations"
    r = client.request("POST", url)
    assert r.status_code == 201, r.text
    body: dict[str, object] = json.loads(r.text)
    return body


def test_presigned_urls_die_when_the_object_moves(presign: ApiServer, files: FileServer) -> None:
    m = one_media(presign, files)
    old = redirect(presign, m)
    with presign.runtime.sessions() as session:
        old_key = session.get(Media, m.media_sid).storage_key  # type: ignore[union-attr]
    assert requests.get(old, timeout=TIMEOUT).content == m.body

    body = revoke_media(presign, m)
    assert body["objects_moved"] == 1
    # S3 itself refuses the old presigned URL: its key no longer exists.
    assert requests.get(old, timeout=TIMEOUT).status_code == 404
    assert not exists(presign.runtime, old_key)
    with presign.runtime.sessions() as session:
        assert session.get(Media, m.media_sid).storage_key != old_key  # type: ignore[union-attr]
    fresh = redirect(presign, m)
    assert urlsplit(fresh).path != urlsplit(old).path
    assert requests.get(fresh, timeout=TIMEOUT).content == m.body


def test_account_revocation_moves_every_presigned_object(presign: ApiServer, files: FileServer) -> None:
    acct = presign.new_account("revoke")
    bodies = [png_bytes(3000), png_bytes(3001)]
    urls = [files.add(f"/revoke/{acct.sid}-{i}.png", b) for i, b in enumerate(bodies)]
    a, b = send_media(presign, acct, urls, bodies)
    olds = [redirect(presign, a), redirect(presign, b)]
    client = twilio_client(presign, acct.sid, acct.token)
    r = client.request("POST", f"{presign.base_url}/v1/Accounts/{acct.sid}/MediaRevocations")
    assert r.status_code == 201, r.text
    assert json.loads(r.text)["objects_moved"] == 2
    for old in olds:
        assert requests.get(old, timeout=TIMEOUT).status_code == 404
    assert requests.get(redirect(presign, a), timeout=TIMEOUT).content == a.body
    assert requests.get(redirect(presign, b), timeout=TIMEOUT).content == b.body
