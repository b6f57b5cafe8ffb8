"""Header values that are not visible ASCII, on the real server (granian).

granian hands request headers to Python as text and drops a field whose value
holds bytes above 0x7E (raw UTF-8, Latin-1) before any code of ours runs. The
documented consequence (docs/security.md, docs/architecture.md): such a request
is answered exactly as the same request without that header, on the RSGI fast
path and on the Starlette path alike, never with a 500. A control character in
a value makes the request itself malformed: granian's HTTP parser answers 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
import requests

from tests.support.fileserver import FileServer, png_bytes
from tests.support.media_steps import StoredMedia, one_media, public_url, signed_url
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e

TIMEOUT = 30
RAW_VALUES = {"utf-8": "✓é".encode(), "latin-1": b"\xe9\xe9\xe9\xe9"}
# A request, sent with these extra headers (None: that header absent, as requests
# reads it), with or without the account's credentials.
Headers = dict[str, str | bytes | None]
Send = Callable[[Headers, bool], requests.Response]


def cases(server: RunningServer, files: FileServer) -> dict[str, tuple[Send, tuple[str, ...]]]:
    """Each request, and the headers sent with a raw value on it."""
    secured: StoredMedia = one_media(server, files)
    legacy = one_media(server, files, enforce=False, body=png_bytes(2301))
    signed = signed_url(secured)
    creds = (secured.account.sid, secured.account.token)
    api = f"{server.base_url}/2010-04-01/Accounts/{secured.account.sid}"

    def get(url: str, allow_redirects: bool = True) -> Send:
        def send(headers: Headers, with_auth: bool) -> requests.Response:
            auth = creds if with_auth else None
            return requests.get(
                url, auth=auth, headers=headers, allow_redirects=allow_redirects, timeout=TIMEOUT
            )

        return send

    def create(headers: Headers, with_auth: bool) -> requests.Response:
        # The form as text, its Content-Type ours to give or to leave out.
        form = urlencode({"To": "+15551230001", "From": "+15557650001", "Body": "hi"})
        auth = creds if with_auth else None
        sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return requests.post(f"{api}/Messages.json", data=form, auth=auth, headers=sent, timeout=TIMEOUT)

    return {
        # The content redirect (the fast path answers it once the rows are in memory).
        "content redirect": (
            get(secured.content_url, allow_redirects=False),
            ("Authorization", "X-Request-Id", "If-None-Match"),
        ),
        "signed download": (get(signed), ("Range", "If-None-Match", "If-Modified-Since", "X-Request-Id")),
        "public download": (get(public_url(server, legacy)), ("Range", "If-None-Match", "Authorization")),
        "message list": (get(f"{api}/Messages.json"), ("Authorization", "Accept", "X-Request-Id")),
        "message create": (create, ("Content-Type", "X-Request-Id")),
        "console sign-in page": (get(f"{server.base_url}/console/login"), ("Cookie", "Accept-Language")),
    }


# Answers whose bytes are the same for the same request (no fresh sid, token or signature in them).
SAME_BYTES = {"signed download", "public download", "message list"}


def test_a_non_ascii_header_is_answered_as_if_absent(server: RunningServer, files: FileServer) -> None:
    for name, (send, headers) in cases(server, files).items():
        for header in headers:
            # requests' auth= sets Authorization itself: a raw one is sent without it.
            with_auth = header != "Authorization" and name not in ("public download", "console sign-in page")
            for kind, raw in RAW_VALUES.items():
                # Twice: the second time the media rows are in memory (the RSGI fast path).
                for _ in range(2):
                    got = send({header: raw}, with_auth)
                    want = send({header: None}, with_auth)
                    where = (name, header, kind, got.status_code, want.status_code)
                    assert got.status_code < 500, (*where, got.text[:200])
                    assert got.status_code == want.status_code, where
                    if name in SAME_BYTES:
                        assert got.content == want.content, where
                    if header == "X-Request-Id":
                        assert re.fullmatch(r"[0-9a-f]{32}", got.headers["x-request-id"]), where


def test_a_control_character_in_a_header_is_a_bad_request(server: RunningServer) -> None:
    for header in ("Authorization", "X-Request-Id", "Range"):
        r = requests.get(f"{server.base_url}/healthz", headers={header: b"a\x01b"}, timeout=TIMEOUT)
        assert r.status_code == 400, (header, r.status_code, r.text[:200])
