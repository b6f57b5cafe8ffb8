"""Testing Twilio media code against mediagate with nothing but the plugin's fixtures:
the 401 without credentials, the redirect hop, a transient failure, the 4-hour URL that
expires, a status callback retried when the clock moves, and a reset."""

from __future__ import annotations

import time

import requests

from conftest import App

TO, FROM = "+15005550010", "+15005550006"


def _send_picture(mediagate_account, app: App, **extra):  # type: ignore[no-untyped-def]
    client = mediagate_account.client
    message = client.messages.create(
        to=TO, from_=FROM, body="pic", media_url=[f"{app.base_url}/pic.png"], **extra
    )
    # The create answers `queued` before the picture is fetched, as Twilio's does: the media
    # list is empty until then. Wait for the fetch to be over, then list.
    settled = mediagate_account.settled(message.sid)
    assert settled["num_media"] == "1", settled
    (media,) = client.messages(message.sid).media.list()
    content_url = f"{mediagate_account.base_url}{media.uri.removesuffix('.json')}"
    return message, media, content_url


def test_media_needs_credentials_and_a_redirect_hop(mediagate_server, mediagate_account, app: App) -> None:
    _, media, content_url = _send_picture(mediagate_account, app)
    assert requests.get(content_url, timeout=30).status_code == 401  # the tutorial that omits auth
    auth = (mediagate_account.sid, mediagate_account.auth_token)
    hop = requests.get(content_url, auth=auth, allow_redirects=False, timeout=30)
    assert hop.status_code == 307
    # The secured URL needs no credentials: a client that drops them on the redirect is fine.
    assert requests.get(hop.headers["Location"], timeout=30).content == app.picture
    kinds = [(e["kind"], e.get("status", e.get("ok"))) for e in mediagate_server.journal(media_sid=media.sid)]
    assert kinds == [("media-fetch", True), ("content", 401), ("content", 307), ("secure", 200)]


def test_a_transient_404_right_after_the_webhook_is_retried(
    mediagate_server, mediagate_account, app: App
) -> None:
    _, media, content_url = _send_picture(mediagate_account, app)
    mediagate_server.fault("content", "status", status=404, media_sid=media.sid)
    auth = (mediagate_account.sid, mediagate_account.auth_token)
    # The code under test: retry a 404 a few times, as Twilio's support article advises.
    for _ in range(3):
        r = requests.get(content_url, auth=auth, timeout=30)
        if r.status_code != 404:
            break
        time.sleep(0.1)
    assert r.status_code == 200 and r.content == app.picture
    faulted = [e for e in mediagate_server.journal(media_sid=media.sid) if e["fault"]]
    assert [(e["kind"], e["status"]) for e in faulted] == [("content", 404)]


def test_a_stored_url_expires_after_four_hours(mediagate_server, mediagate_account, app: App) -> None:
    _, _, content_url = _send_picture(mediagate_account, app)
    auth = (mediagate_account.sid, mediagate_account.auth_token)
    stored = requests.get(content_url, auth=auth, allow_redirects=False, timeout=30).headers["Location"]
    assert requests.get(stored, timeout=30).status_code == 200
    mediagate_server.advance_clock(14401)
    expired = requests.get(stored, timeout=30)
    assert expired.status_code == 403 and expired.json()["reason"] == "expired"
    assert requests.get(content_url, auth=auth, timeout=30).status_code == 200  # ask again: a fresh URL


def test_a_failed_status_callback_is_retried_when_the_clock_moves(
    mediagate_server, mediagate_account, app: App
) -> None:
    mediagate_server.fault("webhook", "status", status=500, account_sid=mediagate_account.sid)
    message, _, _ = _send_picture(mediagate_account, app, status_callback=f"{app.base_url}/status")
    deadline = time.monotonic() + 60
    while not [e for e in mediagate_server.journal(account_sid=mediagate_account.sid) if e["fault"]]:
        assert time.monotonic() < deadline, "the status callback was never attempted"
        time.sleep(0.2)
    assert app.callbacks == []  # the first attempt failed (the fault answered 500)
    mediagate_server.advance_clock(600)  # MEDIAGATE_WEBHOOK_RETRY_BASE in pytest.ini
    (callback, *_) = app.wait_for_callbacks(1)
    assert callback["MessageSid"] == message.sid
    while len(attempts := _callback_attempts(mediagate_server, mediagate_account.sid)) < 2:
        assert time.monotonic() < deadline, "the retry was never journaled"
        time.sleep(0.2)  # journaled once the attempt is recorded, just after our app answered
    assert [e["status"] for e in attempts][:2] == [500, 204]
    assert attempts[1]["signature_valid"] is True


def _callback_attempts(mediagate_server, account_sid):  # type: ignore[no-untyped-def]
    return [e for e in mediagate_server.journal(account_sid=account_sid) if e["kind"] == "status-callback"]


def test_reset_forgets_every_account(mediagate_server, mediagate_account) -> None:
    client = mediagate_account.client
    assert client.messages.list() == []
    mediagate_server.reset()
    assert mediagate_server.clock()["offset_seconds"] == 0
    assert (
        requests.get(
            f"{mediagate_account.base_url}/2010-04-01/Accounts/{mediagate_account.sid}/Messages.json",
            auth=(mediagate_account.sid, mediagate_account.auth_token),
            timeout=30,
        ).status_code
        == 401
    )
