"""Zero-copy delivery through a front nginx (``MEDIAGATE_ACCEL_REDIRECT_PREFIX``).

A real nginx proxies to a real ``mediagate serve``; mediagate decides (signature,
expiry, media row) and answers headers plus ``X-Accel-Redirect``, nginx sends the
file from an ``internal`` location. The nginx config is the one docs/architecture.md
documents, including the ``add_header`` lines that restore the headers nginx does
not keep from an X-Accel-Redirect answer (ETag, nosniff, CSP, ...).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from pydantic import ValidationError
from twilio.rest import Client

from mediagate.core.settings import Settings
from mediagate.media import media as media_service
from tests.support.clients import settled_message
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.nginx import NGINX, running_nginx, user_line
from tests.support.server import Account, RunningServer, free_port, running_server

PREFIX = "/_protected"
TIMEOUT = 15
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

pytestmark = pytest.mark.skipif(not NGINX.exists(), reason="nginx is not installed at /usr/sbin/nginx")

# The documented front config (docs/architecture.md), with test paths filled in.
NGINX_CONF = """\
{user_line}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
        location {prefix}/ {{
            internal;
            alias {media}/;
            add_header ETag $upstream_http_etag;
            add_header X-Content-Type-Options $upstream_http_x_content_type_options always;
            add_header Content-Security-Policy $upstream_http_content_security_policy always;
            add_header X-Frame-Options $upstream_http_x_frame_options always;
            add_header Referrer-Policy $upstream_http_referrer_policy always;
            add_header Cross-Origin-Resource-Policy $upstream_http_cross_origin_resource_policy always;
        }}
    }}
}}
"""


@dataclass
class Front:
    url: str  # the nginx front, which is also MEDIAGATE_PUBLIC_URL
    server: RunningServer  # mediagate behind it (server.base_url: direct access)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    tmp = tmp_path_factory.mktemp("accel")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        fresh_database("sqlite", tmp) as db_url,
        running_server(
            tmp / "data", db_url, MEDIAGATE_ACCEL_REDIRECT_PREFIX=PREFIX, MEDIAGATE_PUBLIC_URL=url
        ) as server,
    ):
        work = tmp / "nginx"
        conf = NGINX_CONF.format(
            user_line=user_line(),
            work=work,
            port=port,
            upstream=server.base_url,
            prefix=PREFIX,
            media=server.runtime.settings.media_dir.resolve(),
        )
        with running_nginx(work, conf, url + "/healthz"):
            yield Front(url, server)


def client(front: Front, acct: Account) -> Client:
    c = Client(acct.sid, acct.token)
    c.api.base_url = front.url
    return c


def set_enforcement(front: Front, acct: Account, on: bool) -> None:
    r = requests.post(
        f"{front.url}/v1/Accounts/{acct.sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "true" if on else "false"},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text


def content_url(front: Front, acct: Account, message_sid: str, media_sid: str) -> str:
    return f"{front.url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}/Media/{media_sid}"


def signed_location(front: Front, acct: Account, message_sid: str, media_sid: str) -> str:
    r = requests.get(
        content_url(front, acct, message_sid, media_sid),
        auth=(acct.sid, acct.token),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert r.status_code == 307, r.text
    location: str = r.headers["Location"]
    # MEDIAGATE_PUBLIC_URL is the front, so clients never see mediagate's own port.
    assert location.startswith(front.url + "/_media/secure/")
    return location


def direct(front: Front, url: str) -> str:
    """The same URL, sent to mediagate itself instead of the front nginx."""
    parts = urlsplit(url)
    return urlunsplit(urlsplit(front.server.base_url)[:2] + parts[2:])


def curl(*args: str) -> tuple[dict[str, str], bytes, int]:
    """(headers of the final response, body, status) from the curl binary."""
    done = subprocess.run(
        ["curl", "-sS", "--max-time", str(TIMEOUT), "-D", "-", *args],
        capture_output=True,
        check=True,
        timeout=TIMEOUT + 5,
    )
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
    }
    return headers, body, status


def svg_media(front: Front, acct: Account) -> tuple[str, str]:
    message = client(front, acct).messages.create(to="+15551230001", from_="+15557650001", body="svg")
    row = media_service.add(front.server.runtime, acct.sid, message.sid, "image/svg+xml", [SVG])
    return message.sid, row.sid


def test_seed_flow_through_nginx(front: Front, files: FileServer) -> None:
    acct = front.server.new_account("accel-seed")
    body = png_bytes(300_000)
    url = files.add("/accel/seed.png", body)
    message = client(front, acct).messages.create(to="+15551230001", from_="+15557650001", media_url=[url])
    assert settled_message(front.server, acct, message.sid)["num_media"] == "1"  # fetched after the create
    media = client(front, acct).messages(message.sid).media.list()
    assert len(media) == 1

    # Content URL -> 307 -> signed URL on the front -> the exact bytes, sent by nginx.
    r = requests.get(
        content_url(front, acct, message.sid, media[0].sid), auth=(acct.sid, acct.token), timeout=TIMEOUT
    )
    assert r.status_code == 200
    assert [h.status_code for h in r.history] == [307]
    assert r.content == body
    assert r.headers["Content-Length"] == str(len(body))
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Server"].startswith("nginx")
    assert "X-Accel-Redirect" not in r.headers  # nginx consumes it
    assert r.headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    assert r.headers["Cache-Control"] == "private, max-age=300"
    assert r.headers["Content-Disposition"].startswith("inline;")

    location = signed_location(front, acct, message.sid, media[0].sid)
    headers, part, status = curl("-H", "Range: bytes=1000-1999", location)
    assert status == 206
    assert part == body[1000:2000]
    assert headers["content-range"] == f"bytes 1000-1999/{len(body)}"

    # If-Range with mediagate's ETag (restored by add_header) still gives the range.
    headers, part, status = curl("-H", "Range: bytes=0-9", "-H", f"If-Range: {r.headers['ETag']}", location)
    assert status == 206 and part == body[:10]

    head = requests.head(location, timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(body))
    assert head.headers["Content-Type"] == "image/png"
    assert head.headers["ETag"] == r.headers["ETag"]

    # A conditional request is still answered by mediagate's 304 branch.
    cached = requests.get(location, headers={"If-None-Match": r.headers["ETag"]}, timeout=TIMEOUT)
    assert cached.status_code == 304 and cached.content == b""


def test_public_host_through_nginx(front: Front, files: FileServer) -> None:
    acct = front.server.new_account("accel-public")
    set_enforcement(front, acct, False)
    body = png_bytes(50_000)
    url = files.add("/accel/public.png", body)
    message = client(front, acct).messages.create(to="+15551230001", from_="+15557650001", media_url=[url])
    assert settled_message(front.server, acct, message.sid)["num_media"] == "1"  # fetched after the create
    media_sid = client(front, acct).messages(message.sid).media.list()[0].sid
    r = requests.get(content_url(front, acct, message.sid, media_sid), timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == body
    assert urlsplit(r.url).path == f"/_media/public/{acct.sid}/{media_sid}"
    assert r.headers["Server"].startswith("nginx")
    assert r.headers["Cache-Control"] == "public, no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # The public host hands the file to nginx too.
    assert direct(front, r.url) != r.url
    behind = requests.get(direct(front, r.url), timeout=TIMEOUT)
    assert behind.status_code == 200 and behind.content == b""
    assert behind.headers["X-Accel-Redirect"].startswith(f"{PREFIX}/{acct.sid}/")


def test_security_headers_survive_for_svg(front: Front) -> None:
    acct = front.server.new_account("accel-svg")
    message_sid, media_sid = svg_media(front, acct)
    r = requests.get(signed_location(front, acct, message_sid, media_sid), timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == SVG
    assert r.headers["Content-Type"] == "image/svg+xml"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert media_sid in r.headers["Content-Disposition"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = r.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["ETag"] == f'"{hashlib.sha256(SVG).hexdigest()}"'


def test_mediagate_alone_answers_headers_and_no_body(front: Front) -> None:
    acct = front.server.new_account("accel-direct")
    message_sid, media_sid = svg_media(front, acct)
    location = direct(front, signed_location(front, acct, message_sid, media_sid))
    for method in ("GET", "HEAD"):
        r = requests.request(method, location, timeout=TIMEOUT)
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["Content-Length"] == "0"
        # The path under the media dir (LocalStore shards by media sid), behind the prefix.
        assert r.headers["X-Accel-Redirect"] == f"{PREFIX}/{acct.sid}/{media_sid[2:4]}/{media_sid}"
        assert r.headers["Content-Type"] == "image/svg+xml"
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert r.headers["ETag"] == f'"{hashlib.sha256(SVG).hexdigest()}"'
    # The target names an existing file under the media dir.
    media_dir = front.server.runtime.settings.media_dir.resolve()
    target = media_dir / r.headers["X-Accel-Redirect"].removeprefix(PREFIX + "/")
    assert target.read_bytes() == SVG


def test_protected_location_is_internal(front: Front) -> None:
    acct = front.server.new_account("accel-internal")
    message_sid, media_sid = svg_media(front, acct)
    location = direct(front, signed_location(front, acct, message_sid, media_sid))
    target = requests.get(location, timeout=TIMEOUT).headers["X-Accel-Redirect"]
    r = requests.get(front.url + target, timeout=TIMEOUT)
    assert r.status_code == 404
    assert SVG not in r.content
    # Whatever the spelling: the prefix itself, a directory, a traversal attempt.
    for path in (f"{PREFIX}/", f"{PREFIX}/{acct.sid}/", f"{PREFIX}/../{PREFIX}/{target[len(PREFIX) + 1 :]}"):
        _, body, status = curl("--path-as-is", front.url + path)
        assert status == 404, path
        assert SVG not in body


def test_tampered_signature_sends_no_file(front: Front) -> None:
    acct = front.server.new_account("accel-tamper")
    message_sid, media_sid = svg_media(front, acct)
    location = signed_location(front, acct, message_sid, media_sid)
    parts = urlsplit(location)
    query = parts.query.replace("Signature=", "Signature=A", 1)
    tampered = urlunsplit(parts._replace(query=query))
    r = requests.get(tampered, timeout=TIMEOUT)
    assert r.status_code == 403
    assert SVG not in r.content
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["status"] == 403
    # Mediagate itself never names the file for a bad signature.
    behind = requests.get(direct(front, tampered), timeout=TIMEOUT)
    assert behind.status_code == 403 and "X-Accel-Redirect" not in behind.headers


def test_deleted_media_is_404_through_nginx(front: Front) -> None:
    acct = front.server.new_account("accel-deleted")
    message_sid, media_sid = svg_media(front, acct)
    location = signed_location(front, acct, message_sid, media_sid)
    assert requests.get(location, timeout=TIMEOUT).content == SVG
    assert client(front, acct).messages(message_sid).media(media_sid).delete() is True
    r = requests.get(location, timeout=TIMEOUT)
    assert r.status_code == 404
    assert SVG not in r.content
    assert r.json()["status"] == 404
    assert "X-Accel-Redirect" not in requests.get(direct(front, location), timeout=TIMEOUT).headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", ""), ("/_protected", "/_protected"), ("/_protected/", "/_protected"), ("/a/b", "/a/b")],
)
def test_prefix_setting_normalised(value: str, expected: str) -> None:
    assert Settings(accel_redirect_prefix=value).accel_redirect_prefix == expected


@pytest.mark.parametrize(
    "value", ["_protected", "/", "/_protected?x=1", "/with space", "http://x/_protected"]
)
def test_prefix_setting_refuses_non_paths(value: str) -> None:
    with pytest.raises(ValidationError, match="absolute path prefix"):
        Settings(accel_redirect_prefix=value)
