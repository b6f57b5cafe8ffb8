"""S3 storage end to end: MEDIAGATE_DELIVERY=presign, start-up refusals, and gc.

The object store is a real SeaweedFS on loopback (tests/support/seaweed.py).
The edge mode over S3 is covered by the media-host and ingest modules, which
run every test on both storage backends (``SERVER_STORAGES``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mediagate.core.timefmt import utcnow
from mediagate.media import delivery
from mediagate.media import media as media_service
from mediagate.media.ingest import IngestedMedia
from mediagate.storage import media_key
from tests.conftest import BACKENDS
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.media_steps import (
    StoredMedia,
    add_media,
    content_url,
    one_media,
    public_url,
    sms,
)
from tests.support.seaweed import ObjectStore
from tests.support.server import MEDIAGATE, RunningServer, free_port, running_server
from tests.support.stored import exists

pytestmark = pytest.mark.e2e

TIMEOUT = 30
TTL = 900


@pytest.fixture(scope="module", params=BACKENDS)
def presign(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, object_store: ObjectStore
) -> Iterator[RunningServer]:
    """A server that stores media in S3 and redirects straight to presigned GETs."""
    tmp = tmp_path_factory.mktemp(f"presign-{request.param}")
    env = {
        **object_store.env(prefix="media"),
        "MEDIAGATE_DELIVERY": "presign",
        "MEDIAGATE_SIGNED_URL_TTL": str(TTL),
    }
    with fresh_database(request.param, tmp) as url, running_server(tmp / "data", url, **env) as srv:
        yield srv


def redirect(m: StoredMedia, method: str = "GET") -> str:
    r = requests.request(
        method, m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=False
    )
    assert r.status_code == 307, r.text
    assert r.headers["Cache-Control"] == "no-store"
    location: str = r.headers["Location"]
    return location


def test_content_url_redirects_to_a_presigned_get(presign: RunningServer, files: FileServer) -> None:
    m = one_media(presign, files)
    location = redirect(m)
    parts = urlsplit(location)
    # Straight to the object store, not to our secured host.
    assert f"{parts.scheme}://{parts.netloc}" == presign.env["MEDIAGATE_S3_ENDPOINT_URL"]
    assert parts.path.endswith(f"/media/{m.account.sid}/{m.media_sid}")
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(TTL)]
    assert query["response-content-type"] == ["image/png"]
    assert query["response-content-disposition"][0].startswith("inline; filename=")
    assert "Signature" not in query and "Key-Pair-Id" not in query

    served = requests.get(location, timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == m.body
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Disposition"].startswith("inline; filename=")
    # A client that follows the redirect with its credentials (requests drops
    # them on the change of port, like twilio-python does) gets the bytes too.
    followed = requests.get(m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT)
    assert followed.history[0].status_code == 307
    assert followed.status_code == 200 and followed.content == m.body
    # Ranges come from the store itself.
    ranged = requests.get(location, headers={"Range": "bytes=10-19"}, timeout=TIMEOUT)
    assert ranged.status_code == 206 and ranged.content == m.body[10:20]


def test_head_through_the_redirect_gets_a_head_url(presign: RunningServer, files: FileServer) -> None:
    m = one_media(presign, files)
    r = requests.head(
        m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=True
    )
    assert r.history and r.history[0].status_code == 307
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(m.body))
    # The GET URL is not valid for HEAD, nor the HEAD URL for GET: the method is signed.
    head_url = redirect(m, "HEAD")
    assert requests.get(head_url, timeout=TIMEOUT).status_code == 403


def test_active_content_is_forced_to_an_attachment(presign: RunningServer) -> None:
    acct = presign.new_account("presign-svg")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    m = add_media(presign, acct, sms(presign, acct), "image/svg+xml", svg, filename="logo.svg")
    served = requests.get(redirect(m), timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == svg
    assert served.headers["Content-Type"] == "image/svg+xml"
    assert served.headers["Content-Disposition"] == (
        "attachment; filename=\"logo.svg\"; filename*=UTF-8''logo.svg"
    )


def test_presigned_url_cannot_be_altered(presign: RunningServer, files: FileServer) -> None:
    m = one_media(presign, files)
    location = redirect(m)
    assert "response-content-type=image%2Fpng" in location
    for tampered in [
        location.replace("response-content-type=image%2Fpng", "response-content-type=text%2Fhtml"),
        location.replace(f"X-Amz-Expires={TTL}", f"X-Amz-Expires={TTL * 2}"),
        location.replace(m.media_sid, "ME" + "0" * 32),
    ]:
        assert tampered != location
        assert requests.get(tampered, timeout=TIMEOUT).status_code == 403


def test_anonymous_and_other_accounts_get_no_presigned_url(presign: RunningServer, files: FileServer) -> None:
    m = one_media(presign, files)
    other = presign.new_account("presign-other")
    for auth in [None, (other.sid, other.token), (m.account.sid, "wrong")]:
        r = requests.get(m.content_url, auth=auth, timeout=TIMEOUT, allow_redirects=False)
        assert r.status_code == 401 and "Location" not in r.headers
        assert r.json()["code"] == 20003


def test_legacy_media_stays_on_the_public_host(presign: RunningServer, files: FileServer) -> None:
    m = one_media(presign, files, enforce=False)
    r = requests.get(m.content_url, timeout=TIMEOUT, allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"] == public_url(presign, m)
    served = requests.get(r.headers["Location"], headers={"Range": "bytes=-48"}, timeout=TIMEOUT)
    assert served.status_code == 206 and served.content == m.body[-48:]
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_secured_host_still_serves_in_presign_mode(presign: RunningServer, files: FileServer) -> None:
    """The console's thumbnails use our secured host whatever the delivery mode."""
    m = one_media(presign, files)
    url = delivery.secured_url(presign.runtime, m.account.sid, m.media_sid)
    served = requests.get(url, timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == m.body
    assert served.headers["Content-Security-Policy"].endswith("sandbox")


def test_delete_removes_the_object_so_the_presigned_url_dies(
    presign: RunningServer, files: FileServer
) -> None:
    m = one_media(presign, files)
    location = redirect(m)
    assert requests.get(location, timeout=TIMEOUT).status_code == 200
    auth = (m.account.sid, m.account.token)
    assert requests.delete(m.metadata_url, auth=auth, timeout=TIMEOUT).status_code == 204
    assert requests.get(location, timeout=TIMEOUT).status_code == 404
    assert requests.get(m.content_url, auth=auth, timeout=TIMEOUT, allow_redirects=False).status_code == 404
    assert not exists(presign.runtime, m.key)


def test_large_upload_is_multipart_and_intact(presign: RunningServer) -> None:
    acct = presign.new_account("presign-large")
    size = 20 * 1024 * 1024 + 4321  # three parts of 8 MiB
    digest = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for offset in range(0, size, 65536):
            chunk = ((offset // 65536).to_bytes(4, "big") * 16384)[: min(65536, size - offset)]
            digest.update(chunk)
            yield chunk

    row = media_service.add(presign.runtime, acct.sid, sms(presign, acct), "video/mp4", chunks())
    assert row.size == size and row.sha256 == digest.hexdigest()
    m = StoredMedia(
        acct, row.message_sid, row.sid, b"", content_url(presign, acct.sid, row.message_sid, row.sid)
    )
    received = hashlib.sha256()
    with requests.get(redirect(m), stream=True, timeout=TIMEOUT) as r:
        assert r.status_code == 200 and r.headers["Content-Length"] == str(size)
        for piece in r.iter_content(1 << 20):
            received.update(piece)
    assert received.hexdigest() == digest.hexdigest()
    # Several parts on the store's side: S3 reports a multipart ETag ("<md5>-<parts>").
    store = presign.runtime.store
    assert store.open(m.key).etag.endswith("-3")


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGATE_")}
    return subprocess.run(
        [str(MEDIAGATE), "serve", "--host", "127.0.0.1", "--port", "9"],
        env={**clean, "MEDIAGATE_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# One case over the real executable (exit status 2, one stderr line, nothing generated);
# every case's reason is tests/unit/test_media_startup_refusals.py's, from the settings.
@pytest.mark.parametrize(
    ("env", "reason"),
    [({"MEDIAGATE_STORAGE_URL": "s3://media/prefix"}, "MEDIAGATE_SECRET_KEY is required with S3 storage")],
)
def test_server_refuses_to_start_with_one_line_reason(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    done = _serve(tmp_path, **env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "secret.key").exists()  # refused before generating anything


# --- the object store down ------------------------------------------------------------------


def test_unreachable_store_keeps_the_message_queued_and_stores_nothing(
    server_factory: Callable[..., RunningServer], files: FileServer
) -> None:
    """S3 endpoint with nothing listening: a message with media is queued and keeps no
    media while the store is away (no botocore name, no traceback); the media hosts
    answer 503."""
    env = {
        "MEDIAGATE_STORAGE_URL": "s3://media",
        "MEDIAGATE_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "unused",
        "AWS_SECRET_ACCESS_KEY": "unused-secret-value",
    }
    srv = server_factory(**env)
    acct = srv.new_account("store-down")
    url = files.add(f"/down/{acct.sid}.png", png_bytes(800))
    r = requests.post(
        f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": url},
        auth=(acct.sid, acct.token),
        timeout=120,
    )
    # The create answers at once (as Twilio's does); the fetch cannot store while the
    # store is away, so the message stays queued with no media, and the worker logs
    # one line per attempt (no traceback, no secret) and tries again after its lease.
    assert r.status_code == 201, r.text
    sid = r.json()["sid"]
    eventually(lambda: "media storage is unavailable" in srv.log())
    got = requests.get(
        f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json",
        auth=(acct.sid, acct.token),
        timeout=30,
    ).json()
    assert got["status"] == "queued" and got["num_media"] == "0", got
    media = requests.get(
        f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}/Media.json",
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    assert media.json()["media_list"] == []
    # The fetch worker says it in one line; no traceback of its own.
    log = srv.log()
    assert "media-fetch pass failed" not in log and "media fetch of" not in log
    # A validly signed URL for media whose row exists but whose store is down.
    message = sms(srv, acct)
    with srv.runtime.tx() as session:
        row = IngestedMedia(
            "ME" + "f" * 32, media_key(acct.sid, "ME" + "f" * 32), "image/png", 3, "0" * 64, None
        )
        session.add(row.row(acct.sid, message, auth_required=True, now=utcnow()))
    signed = delivery.secured_url(srv.runtime, acct.sid, "ME" + "f" * 32)
    down = requests.get(signed, timeout=120)
    assert down.status_code == 503 and down.json()["code"] == 20503
    assert "unused-secret-value" not in srv.log() and "botocore" not in r.text
