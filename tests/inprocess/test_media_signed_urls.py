"""Signed-URL expiry with the app in process (tests/support/inprocess.py) on every
database: the server's clock is test mode's (``POST /v1/Testing/Clock``), so the
URL expires when the clock passes its TTL, not after a real wait. The tampering,
revocation and rotation facts stay end to end (tests/e2e/test_signed_urls.py):
they meet the RSGI fast path's memory there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.e2e.test_signed_urls import assert_refused, flip_last, query_of, with_query
from tests.support.fileserver import png_bytes
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.stored import message_with_media

TTL = 60  # a setting like MEDIAGATE_SIGNED_URL_TTL=1 before, but the clock moves instead of the test waiting


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    tmp = tmp_path_factory.mktemp(f"media-signed-{request.param}")
    with in_process_server(request.param, tmp, test_mode=True, signed_url_ttl=TTL) as server:
        yield server


def clock_now(app: InProcessServer) -> float:
    return app.runtime.clock.time()


def test_expired_url_says_so_and_a_fresh_one_works(app: InProcessServer) -> None:
    acct = app.new_account("signed-expiry")
    message_sid, media_sid = message_with_media(app.runtime, acct.sid)
    body = png_bytes(300)  # what message_with_media stores
    content = f"{app.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}/Media/{media_sid}"
    auth = (acct.sid, acct.token)

    first = app.http.get(content, auth=auth, allow_redirects=False, timeout=30)
    assert first.status_code == 307, first.text
    url = first.headers["Location"]
    expires = int(query_of(url)["Expires"])
    # The TTL setting decides the expiry, on the server's clock.
    assert clock_now(app) + TTL - 2 <= expires <= clock_now(app) + TTL + 2
    ok = app.http.get(url, timeout=30)
    assert ok.status_code == 200 and ok.content == body

    # Past the expiry second (the URL is valid up to and including it), by the clock only.
    moved = app.http.post(
        f"{app.base_url}/v1/Testing/Clock", data={"AdvanceSeconds": str(TTL + 2)}, timeout=30
    )
    assert moved.status_code == 200, moved.text
    assert clock_now(app) > expires

    refused = assert_refused(app.http.get(url, timeout=30), "expired")
    assert "expired" in str(refused["message"]).lower()
    # Tampered *and* expired: never called "expired", since we did not issue it.
    tampered = with_query(url, {**query_of(url), "Signature": flip_last(query_of(url)["Signature"])})
    assert_refused(app.http.get(tampered, timeout=30), "invalid")

    # Asking the content URL again gives a new URL that works (followed at once).
    again = app.http.get(content, auth=auth, timeout=30)
    assert again.history[0].status_code == 307
    assert again.history[0].headers["Location"] != url
    assert int(query_of(again.history[0].headers["Location"])["Expires"]) > clock_now(app)
    assert again.status_code == 200 and again.content == body
