"""The content URL's redirect and the two media hosts, against the real server process."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from mediagate.media import media as media_service
from tests.support.cli import run_cli
from tests.support.fileserver import JPEG, FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.media_steps import (
    TIMEOUT,
    StoredMedia,
    add_media,
    content_url,
    new_api_key,
    one_media,
    public_url,
    send_media,
    sha,
    signed_url,
    sms,
)
from tests.support.server import Account, RunningServer
from tests.support.stored import exists, read, stored_keys

pytestmark = pytest.mark.e2e
# Media bytes: every test runs on the local disk and on S3 (SeaweedFS).
SERVER_STORAGES = ("local", "s3")


# --- the content URL ------------------------------------------------------------------------


def test_content_url_redirects_to_signed_secure_url(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    key_sid, key_secret = new_api_key(server, m.account)
    for creds in [(m.account.sid, m.account.token), (key_sid, key_secret)]:
        r = requests.get(m.content_url, auth=creds, timeout=TIMEOUT, allow_redirects=False)
        assert r.status_code == 307, (creds[0], r.text)
        assert r.headers["Cache-Control"] == "no-store"
        location = urlsplit(r.headers["Location"])
        assert f"{location.scheme}://{location.netloc}" == server.base_url
        assert location.path == f"/_media/secure/{m.account.sid}/{m.media_sid}"
        query = parse_qs(location.query)
        assert set(query) == {"Expires", "Issued", "Signature", "Key-Pair-Id"}
        # The signed URL works on its own, without any credentials.
        served = requests.get(r.headers["Location"], timeout=TIMEOUT)
        assert served.status_code == 200
        assert served.content == m.body


def test_content_url_refuses_missing_or_wrong_credentials(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    other = server.new_account("someone else")
    for auth in [None, (m.account.sid, "wrong-token"), (other.sid, other.token), ("SK" + "0" * 32, "x")]:
        r = requests.get(m.content_url, auth=auth, timeout=TIMEOUT, allow_redirects=False)
        assert r.status_code == 401, auth
        assert r.json()["code"] == 20003
        assert "Location" not in r.headers


def test_head_on_content_url_redirects_and_follows(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    r = requests.head(
        m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=True
    )
    assert r.history and r.history[0].status_code == 307
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(m.body))
    assert r.content == b""


def test_legacy_media_redirects_to_public_host(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, enforce=False)
    r = requests.get(m.content_url, timeout=TIMEOUT, allow_redirects=False)
    assert r.status_code == 307
    location = r.headers["Location"]
    assert location == public_url(server, m)
    assert urlsplit(location).query == ""  # permanent, unsigned

    served = requests.get(location, timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == m.body
    assert served.headers["Cache-Control"].startswith("public")

    # Valid credentials are accepted too and lead to the same public URL.
    with_creds = requests.get(
        m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=False
    )
    assert with_creds.status_code == 307 and with_creds.headers["Location"] == location

    # Wrong credentials are refused even though the media itself is public.
    wrong = requests.get(
        m.content_url, auth=(m.account.sid, "not-the-token"), timeout=TIMEOUT, allow_redirects=False
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == 20003
    other = server.new_account("other")
    foreign = requests.get(
        m.content_url, auth=(other.sid, other.token), timeout=TIMEOUT, allow_redirects=False
    )
    assert foreign.status_code == 401


# --- the secured host -----------------------------------------------------------------------


def test_secure_host_full_get(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, body=png_bytes(12_345))
    r = requests.get(signed_url(m), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == m.body
    h = r.headers
    assert h["Content-Type"] == "image/png"
    assert h["Content-Length"] == "12345"
    assert h["ETag"] == f'"{sha(m.body)}"'
    assert h["Accept-Ranges"] == "bytes"
    assert h["Cache-Control"].startswith("private")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in h["Content-Security-Policy"]
    assert h["Content-Disposition"].startswith("inline")


def test_secure_host_ranges(server: RunningServer, files: FileServer) -> None:
    body = png_bytes(1000)
    body = body[:100] + bytes(range(256)) * 3 + body[868:]  # distinct bytes, so offsets matter
    assert len(body) == 1000
    m = one_media(server, files, body=body)
    url = signed_url(m)
    etag = f'"{sha(body)}"'

    first = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=TIMEOUT)
    assert first.status_code == 206
    assert first.headers["Content-Range"] == "bytes 0-99/1000"
    assert first.headers["Content-Length"] == "100"
    assert first.content == body[:100]
    assert first.headers["ETag"] == etag

    middle = requests.get(url, headers={"Range": "bytes=100-355"}, timeout=TIMEOUT)
    assert middle.status_code == 206
    assert middle.content == bytes(range(256))

    suffix = requests.get(url, headers={"Range": "bytes=-10"}, timeout=TIMEOUT)
    assert suffix.status_code == 206
    assert suffix.headers["Content-Range"] == "bytes 990-999/1000"
    assert suffix.content == body[-10:]

    open_ended = requests.get(url, headers={"Range": "bytes=100-"}, timeout=TIMEOUT)
    assert open_ended.status_code == 206
    assert open_ended.headers["Content-Range"] == "bytes 100-999/1000"
    assert open_ended.content == body[100:]

    last_byte = requests.get(url, headers={"Range": "bytes=999-999"}, timeout=TIMEOUT)
    assert last_byte.status_code == 206 and last_byte.content == body[999:]

    beyond = requests.get(url, headers={"Range": "bytes=1000-1100"}, timeout=TIMEOUT)
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == "bytes */1000"
    assert beyond.content != body


def test_secure_host_head(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, body=png_bytes(7000))
    url = signed_url(m)
    r = requests.head(url, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Content-Length"] == "7000"
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["ETag"] == f'"{sha(m.body)}"'
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    ranged = requests.head(url, headers={"Range": "bytes=0-9"}, timeout=TIMEOUT)
    assert ranged.status_code == 206 and ranged.content == b""
    assert ranged.headers["Content-Range"] == "bytes 0-9/7000"


def test_secure_host_range_edge_cases_answer_alike_on_every_backend(
    server: RunningServer, files: FileServer
) -> None:
    """If-Range, over-long suffixes, empty suffixes and malformed headers: the local disk
    (Starlette's FileResponse) and S3 (edge/ranges.py) give the same answers."""
    m = one_media(server, files, body=png_bytes(3000))
    url = signed_url(m)
    etag = f'"{sha(m.body)}"'

    def get(range_: str, **extra: str) -> requests.Response:
        return requests.get(url, headers={"Range": range_, **extra}, timeout=TIMEOUT)

    same = get("bytes=5-9", **{"If-Range": etag})
    assert same.status_code == 206 and same.content == m.body[5:10]
    changed = get("bytes=5-9", **{"If-Range": '"something-else"'})
    assert changed.status_code == 200 and changed.content == m.body
    longer = get("bytes=-5000")
    assert longer.status_code == 206 and longer.content == m.body
    assert longer.headers["Content-Range"] == "bytes 0-2999/3000"
    past_end = get("bytes=2990-9999")
    assert past_end.status_code == 206 and past_end.content == m.body[2990:]
    empty_suffix = get("bytes=-0")
    assert empty_suffix.status_code == 416 and empty_suffix.headers["Content-Range"] == "bytes */3000"
    for malformed in ["pages=0-1", "bytes", "bytes=", "bytes=x-y", "bytes=9-5"]:
        assert get(malformed).status_code == 400, malformed


def test_secure_host_if_none_match(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    url = signed_url(m)
    etag = requests.get(url, timeout=TIMEOUT).headers["ETag"]
    assert etag == f'"{sha(m.body)}"'

    cached = requests.get(url, headers={"If-None-Match": etag}, timeout=TIMEOUT)
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["ETag"] == etag

    listed = requests.get(url, headers={"If-None-Match": f'"nope", W/{etag}'}, timeout=TIMEOUT)
    assert listed.status_code == 304

    stale = requests.get(url, headers={"If-None-Match": '"' + "0" * 64 + '"'}, timeout=TIMEOUT)
    assert stale.status_code == 200 and stale.content == m.body


@pytest.fixture(scope="module")
def a_message(server: RunningServer) -> tuple[Account, str]:
    """An account and a message (sent through the API) per server, for the tests that
    store media of their own through the service: each adds its own media to it."""
    acct = server.new_account("types")
    return acct, sms(server, acct)


@pytest.mark.parametrize(
    ("content_type", "body", "disposition"),
    [
        ("image/png", png_bytes(300), "inline"),
        ("image/jpeg", JPEG, "inline"),
        (
            "image/svg+xml",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "attachment",
        ),
        ("text/html", b"<html><script>alert(document.cookie)</script></html>", "attachment"),
        ("application/pdf", b"%PDF-1.4\n%%EOF\n", "attachment"),
        ("application/octet-stream", b"\x00\x01\x02 not a known type", "attachment"),
    ],
    ids=["png", "jpeg", "svg", "html", "pdf", "octet-stream"],
)
def test_content_disposition_by_type(
    server: RunningServer, a_message: tuple[Account, str], content_type: str, body: bytes, disposition: str
) -> None:
    acct, message_sid = a_message
    m = add_media(server, acct, message_sid, content_type, body)
    r = requests.get(signed_url(m), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == body
    assert r.headers["Content-Type"].split(";")[0] == content_type
    cd = r.headers["Content-Disposition"]
    assert cd.split(";")[0] == disposition
    # No name was given, so one is derived from the media sid, never from client input.
    assert m.media_sid in cd
    # Active content can never act with the host's authority, whatever its disposition.
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r.headers["Content-Security-Policy"]


def test_original_filename_from_media_url_path(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("names")
    body = png_bytes(900)
    url = files.add("/x/cat%20photo.png", body)
    m = send_media(server, acct, [url], [body])[0]
    cd = requests.get(signed_url(m), timeout=TIMEOUT).headers["Content-Disposition"]
    assert cd.startswith("inline;")
    assert 'filename="cat photo.png"' in cd
    assert "filename*=UTF-8''cat%20photo.png" in cd


DISPOSITION = "attachment; filename=\"report.png\"; filename*=UTF-8''r%C3%A9sum%C3%A9.png"


def test_original_filename_from_content_disposition(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("names")
    body = png_bytes(901)
    url = files.add(
        "/download/123",
        body,
        headers={"Content-Disposition": DISPOSITION},
    )
    m = send_media(server, acct, [url], [body])[0]
    cd = requests.get(signed_url(m), timeout=TIMEOUT).headers["Content-Disposition"]
    # filename* (RFC 6266) wins; the ASCII fallback replaces what it cannot carry.
    assert cd.startswith("inline;")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.png" in cd
    assert 'filename="r_sum_.png"' in cd


def test_filename_cannot_inject_header_parameters(server: RunningServer) -> None:
    acct = server.new_account("names")
    m = add_media(
        server, acct, sms(server, acct), "text/html", b"<p>x</p>", filename='a"; filename="evil.png;.html'
    )
    cd = requests.get(signed_url(m), timeout=TIMEOUT).headers["Content-Disposition"]
    assert cd.startswith("attachment;")
    assert cd.count('filename="') == 1
    assert 'filename="evil.png' not in cd


def test_forwarded_authorization_header_is_ignored(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    # requests keeps Authorization on a same-host redirect (S3 would answer 400 to this).
    r = requests.get(m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT)
    assert [h.status_code for h in r.history] == [307]
    assert urlsplit(r.url).path.startswith("/_media/secure/")
    assert "Authorization" in r.request.headers
    assert r.status_code == 200
    assert r.content == m.body
    # Even a plainly wrong Authorization on the signed URL does not matter: the signature does.
    junk = requests.get(signed_url(m), headers={"Authorization": "Bearer nonsense"}, timeout=TIMEOUT)
    assert junk.status_code == 200 and junk.content == m.body


def test_curl_follows_redirect_with_basic_auth(
    server: RunningServer, files: FileServer, tmp_path: Path
) -> None:
    m = one_media(server, files, body=png_bytes(64_000))
    out = tmp_path / "downloaded.png"
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail", "-L",
            "-u", f"{m.account.sid}:{m.account.token}",
            "-o", str(out), "-w", "%{http_code} %{num_redirects}",
            m.content_url,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "200 1"
    assert sha(out.read_bytes()) == sha(m.body)


# --- the public host ------------------------------------------------------------------------


def test_public_host_never_serves_auth_required_media(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    plain = requests.get(public_url(server, m), timeout=TIMEOUT)
    assert plain.status_code == 404
    assert plain.content != m.body
    # Neither a signed query string nor credentials open it.
    query = urlsplit(signed_url(m)).query
    with_signature = requests.get(public_url(server, m) + "?" + query, timeout=TIMEOUT)
    assert with_signature.status_code == 404
    with_creds = requests.get(public_url(server, m), auth=(m.account.sid, m.account.token), timeout=TIMEOUT)
    assert with_creds.status_code == 404
    assert requests.head(public_url(server, m), timeout=TIMEOUT).status_code == 404


def test_public_host_serves_legacy_media_with_safe_headers(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, enforce=False, body=png_bytes(2048))
    r = requests.get(public_url(server, m), headers={"Range": "bytes=-48"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.content == m.body[-48:]
    full = requests.get(public_url(server, m), timeout=TIMEOUT)
    assert full.content == m.body
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    assert full.headers["ETag"] == f'"{sha(m.body)}"'


def test_secure_legacy_takes_media_off_the_public_host(server: RunningServer, files: FileServer) -> None:
    """``mediagate media secure-legacy`` (on this server's database and storage):
    the public URL stops working and the content URL needs credentials from then on."""
    m = one_media(server, files, enforce=False)
    public = public_url(server, m)
    assert requests.get(public, timeout=TIMEOUT).content == m.body
    # In this process (tests/support/cli.py), a runtime of its own as a CLI process would
    # have; the server is still another process. The media group's executable run is
    # test_retention's (media gc).
    done = run_cli(server.env, "media", "secure-legacy", m.account.sid)
    assert done.returncode == 0 and "1 media now require HTTP auth" in done.stdout, done.stderr
    # The server is another process: the change reaches its memory through the
    # invalidation channel, within the coherence bound (docs/deploy.md), not at once.
    eventually(lambda: requests.get(public, timeout=TIMEOUT).status_code == 404, timeout=10)
    anonymous = requests.get(m.content_url, timeout=TIMEOUT, allow_redirects=False)
    assert anonymous.status_code == 401
    served = requests.get(signed_url(m), timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == m.body
    assert read(server.runtime, m.key) == m.body  # the bytes never moved


def test_public_host_only_serves_media_under_its_own_account(
    server: RunningServer, files: FileServer
) -> None:
    m = one_media(server, files, enforce=False)
    other = server.new_account("other")
    r = requests.get(f"{server.base_url}/_media/public/{other.sid}/{m.media_sid}", timeout=TIMEOUT)
    assert r.status_code == 404


# --- deletion -------------------------------------------------------------------------------


def test_delete_media_kills_signed_url_metadata_and_file(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    url = signed_url(m)
    assert read(server.runtime, m.key) == m.body
    assert requests.get(url, timeout=TIMEOUT).status_code == 200

    auth = (m.account.sid, m.account.token)
    deleted = requests.delete(m.metadata_url, auth=auth, timeout=TIMEOUT)
    assert deleted.status_code == 204
    assert deleted.content == b""

    gone = requests.get(url, timeout=TIMEOUT)
    assert gone.status_code == 404
    assert gone.json()["reason"] == "not_found"
    meta = requests.get(m.metadata_url, auth=auth, timeout=TIMEOUT)
    assert meta.status_code == 404
    assert meta.json() == {
        "code": 20404,
        "message": f"The requested resource {urlsplit(m.metadata_url).path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }
    assert not exists(server.runtime, m.key)
    # The content URL no longer redirects anywhere, and a second delete is a 404.
    assert requests.get(m.content_url, auth=auth, timeout=TIMEOUT, allow_redirects=False).status_code == 404
    assert requests.delete(m.metadata_url, auth=auth, timeout=TIMEOUT).status_code == 404


def test_deleted_legacy_media_is_gone_from_both_hosts(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, enforce=False)
    public = public_url(server, m)
    assert requests.get(public, timeout=TIMEOUT).content == m.body
    auth = (m.account.sid, m.account.token)
    assert requests.delete(m.metadata_url, auth=auth, timeout=TIMEOUT).status_code == 204
    assert requests.get(public, timeout=TIMEOUT).status_code == 404
    assert requests.get(m.content_url, timeout=TIMEOUT, allow_redirects=False).status_code == 401
    # A validly signed URL for the deleted sid (signed with the server's own key) finds nothing either.
    query = server.runtime.signer.sign(f"/{m.account.sid}/{m.media_sid}")
    secure = f"{server.base_url}/_media/secure/{m.account.sid}/{m.media_sid}?{query}"
    assert requests.get(secure, timeout=TIMEOUT).status_code == 404


def test_delete_message_deletes_all_its_media(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("bulk")
    bodies = [png_bytes(1000 + i) for i in range(3)]
    urls = [files.add(f"/bulk/{acct.sid}/{i}.png", b) for i, b in enumerate(bodies)]
    media = send_media(server, acct, urls, bodies)
    signed = [signed_url(m) for m in media]
    assert all(exists(server.runtime, m.key) for m in media)
    assert [requests.get(u, timeout=TIMEOUT).content for u in signed] == [m.body for m in media]

    auth = (acct.sid, acct.token)
    message_url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{media[0].message_sid}.json"
    assert requests.delete(message_url, auth=auth, timeout=TIMEOUT).status_code == 204

    assert [requests.get(u, timeout=TIMEOUT).status_code for u in signed] == [404, 404, 404]
    assert not any(exists(server.runtime, m.key) for m in media)
    assert stored_keys(server.runtime, acct.sid) == []
    assert all(requests.get(m.metadata_url, auth=auth, timeout=TIMEOUT).status_code == 404 for m in media)
    assert requests.get(message_url, auth=auth, timeout=TIMEOUT).status_code == 404


# --- large objects --------------------------------------------------------------------------


def test_large_object_streams_intact(server: RunningServer) -> None:
    acct = server.new_account("large")
    size = 20 * 1024 * 1024
    digest = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for i in range(size // 65536):
            chunk = (i.to_bytes(4, "big") * 16384)[:65536]
            digest.update(chunk)
            yield chunk

    row = media_service.add(server.runtime, acct.sid, sms(server, acct), "video/mp4", chunks())
    assert row.size == size and row.sha256 == digest.hexdigest()
    m = StoredMedia(
        acct, row.message_sid, row.sid, b"", content_url(server, acct.sid, row.message_sid, row.sid)
    )

    received = hashlib.sha256()
    total = 0
    with requests.get(signed_url(m), stream=True, timeout=TIMEOUT) as r:
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(size)
        for piece in r.iter_content(chunk_size=1 << 20):
            received.update(piece)
            total += len(piece)
    assert total == size
    assert received.hexdigest() == digest.hexdigest()

    tail = requests.get(signed_url(m), headers={"Range": f"bytes={size - 65536}-"}, timeout=TIMEOUT)
    assert tail.status_code == 206
    assert tail.content == ((size // 65536 - 1).to_bytes(4, "big") * 16384)


def test_bytes_live_in_the_configured_store(server: RunningServer, files: FileServer) -> None:
    """The server process wrote where its MEDIAGATE_STORAGE_URL says: S3 servers leave the
    media folder empty and put the object in the bucket; local ones write a file."""
    m = one_media(server, files)
    media_dir = server.runtime.settings.media_dir / m.account.sid
    on_disk = [p for p in media_dir.rglob("*") if p.is_file()]
    storage_url = server.env.get("MEDIAGATE_STORAGE_URL", "")
    if storage_url.startswith("s3://"):
        bucket, _, prefix = storage_url.removeprefix("s3://").partition("/")
        client = boto3.client("s3", endpoint_url=server.env["MEDIAGATE_S3_ENDPOINT_URL"])
        name = f"{prefix}/{m.key}" if prefix else m.key
        assert client.get_object(Bucket=bucket, Key=name)["Body"].read() == m.body
        assert on_disk == []
    else:
        assert [p.read_bytes() for p in on_disk] == [m.body]


# ``mediagate media gc`` on orphaned objects is tests/inprocess/test_media_gc.py's: the
# command works on the database and the store, and a server per storage was started
# here only to store one media.
