"""Signed URLs of the secured media host: tampering, expiry, revocation, TTL."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from mediagate.core import sids
from mediagate.media import signing_keys
from tests.support.cli import run_cli
from tests.support.clients import settled_message
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account, RunningServer

pytestmark = pytest.mark.e2e

TIMEOUT = 30


@dataclass(frozen=True)
class Secured:
    account: Account
    message_sid: str
    media_sid: str
    body: bytes

    def content_url(self, server: RunningServer) -> str:
        return (
            f"{server.base_url}/2010-04-01/Accounts/{self.account.sid}"
            f"/Messages/{self.message_sid}/Media/{self.media_sid}"
        )


def secured_media(server: RunningServer, files: FileServer) -> Secured:
    """A message with one auth-required image, created through the API."""
    acct = server.new_account("signed")
    body = png_bytes(4096)
    url = files.add(f"/signed/{acct.sid}.png", body)
    auth = (acct.sid, acct.token)
    created = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": url},
        auth=auth,
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    message_sid = created.json()["sid"]
    settled_message(server, acct, message_sid)  # the media are fetched after the create answered
    listed = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}/Media.json",
        auth=auth,
        timeout=TIMEOUT,
    )
    (media,) = listed.json()["media_list"]
    return Secured(acct, message_sid, media["sid"], body)


def fresh_signed_url(server: RunningServer, m: Secured) -> str:
    r = requests.get(
        m.content_url(server), auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=False
    )
    assert r.status_code == 307, r.text
    location: str = r.headers["Location"]
    return location


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def with_query(url: str, query: dict[str, str]) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_path(url: str, account_sid: str, media_sid: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/_media/secure/{account_sid}/{media_sid}"))


def flip_last(value: str) -> str:
    return value[:-1] + ("A" if value[-1] != "A" else "B")


def assert_refused(r: requests.Response, reason: str) -> dict[str, object]:
    assert r.status_code == 403, (r.status_code, r.text[:200])
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Cache-Control"] == "no-store"
    body: dict[str, object] = r.json()
    assert body["status"] == 403
    assert body["reason"] == reason
    assert isinstance(body["message"], str) and body["message"]
    return body


Tamper = Callable[[str, Secured], str]


def set_param(name: str, value: Callable[[str], str]) -> Tamper:
    def tamper(url: str, m: Secured) -> str:
        query = query_of(url)
        return with_query(url, {**query, name: value(query[name])})

    return tamper


def drop_params(*names: str) -> Tamper:
    return lambda url, m: with_query(url, {k: v for k, v in query_of(url).items() if k not in names})


TAMPERS: dict[str, Tamper] = {
    "signature": set_param("Signature", flip_last),
    "signature-empty": set_param("Signature", lambda _: ""),
    "expires-plus-one": set_param("Expires", lambda v: str(int(v) + 1)),
    "expires-far-future": set_param("Expires", lambda _: "99999999999"),
    "expires-not-a-number": set_param("Expires", lambda _: "tomorrow"),
    # One spelling of Expires only (issue 8, item 6): these all mean the real value to int().
    "expires-leading-zero": set_param("Expires", lambda v: "0" + v),
    "expires-arabic-indic": set_param("Expires", lambda v: "".join(chr(0x660 + int(d)) for d in v)),
    "expires-fullwidth": set_param("Expires", lambda v: "".join(chr(0xFF10 + int(d)) for d in v)),
    "expires-plus-sign": set_param("Expires", lambda v: "+" + v),
    "expires-whitespace": set_param("Expires", lambda v: f" {v} "),
    "expires-underscore": set_param("Expires", lambda v: v[:1] + "_" + v[1:]),
    "expires-superscript-two": set_param("Expires", lambda _: "\u00b2"),  # isdigit() but not int(): was a 500
    # Repeated signed parameters are refused, not resolved by picking one.
    "duplicate-signature": lambda url, m: url + "&Signature=" + query_of(url)["Signature"],
    "duplicate-signature-other": lambda url, m: url + "&Signature=" + flip_last(query_of(url)["Signature"]),
    "duplicate-expires": lambda url, m: url + "&Expires=" + query_of(url)["Expires"],
    "duplicate-key-pair-id": lambda url, m: url + "&Key-Pair-Id=" + query_of(url)["Key-Pair-Id"],
    "key-pair-id-unknown": set_param("Key-Pair-Id", lambda _: sids.new_sid(sids.SIGNING_KEY)),
    "key-pair-id-junk": set_param("Key-Pair-Id", lambda _: "../../etc/passwd"),
    "media-sid-in-path": lambda url, m: with_path(url, m.account.sid, sids.new_sid(sids.MEDIA)),
    "account-sid-in-path": lambda url, m: with_path(url, sids.new_sid(sids.ACCOUNT), m.media_sid),
    "drop-signature": drop_params("Signature"),
    "drop-expires": drop_params("Expires"),
    "drop-key-pair-id": drop_params("Key-Pair-Id"),
    "drop-all": drop_params("Signature", "Expires", "Key-Pair-Id"),
}


@pytest.fixture(scope="module")
def shared(server: RunningServer, files: FileServer) -> Secured:
    """One secured media per server for the tests that only read it: each tamper is
    one request against a fresh URL of it, so the matrix need not create an account
    and a message per item. After the first untouched download the server's fast
    path remembers the media, so the later tampers also meet a warm memory."""
    return secured_media(server, files)


@pytest.mark.parametrize("name", list(TAMPERS))
def test_tampered_url_is_refused(server: RunningServer, shared: Secured, name: str) -> None:
    m = shared
    url = fresh_signed_url(server, m)
    tampered = TAMPERS[name](url, m)
    assert tampered != url
    r = requests.get(tampered, timeout=TIMEOUT)
    assert_refused(r, "invalid")
    assert m.body not in r.content
    assert requests.head(tampered, timeout=TIMEOUT).status_code == 403
    # The untouched URL still works.
    ok = requests.get(url, timeout=TIMEOUT)
    assert ok.status_code == 200 and ok.content == m.body


def test_url_signed_for_one_media_does_not_open_another(
    server: RunningServer, files: FileServer, shared: Secured
) -> None:
    """Both media exist: only the signature decides."""
    first = shared
    second = secured_media(server, files)
    url = fresh_signed_url(server, first)
    swapped = with_path(url, second.account.sid, second.media_sid)
    assert_refused(requests.get(swapped, timeout=TIMEOUT), "invalid")


def test_default_ttl_is_four_hours(server: RunningServer, shared: Secured) -> None:
    m = shared
    before = time.time()
    url = fresh_signed_url(server, m)
    after = time.time()
    expires = int(query_of(url)["Expires"])
    assert int(before) + 14400 - 2 <= expires <= int(after) + 14400 + 2


# The expiry (a URL refused as "expired" once the clock passes its TTL, a fresh one
# working) is tests/inprocess/test_media_signed_urls.py's: it moves test mode's
# clock there instead of waiting seconds in real time here.


def wait_for_status(url: str, status: int, within: float = 5.0) -> int:
    """Poll until ``url`` answers ``status`` (the server re-reads keys every 0.5 s)."""
    deadline = time.monotonic() + within
    while True:
        got = requests.get(url, timeout=TIMEOUT).status_code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def active_kids(server: RunningServer) -> list[str]:
    return [k.kid for k in signing_keys.list_keys(server.runtime) if k.status == "active"]


def test_retiring_the_signing_key_revokes_urls(server: RunningServer, files: FileServer) -> None:
    m = secured_media(server, files)
    other = secured_media(server, files)
    old_urls = [fresh_signed_url(server, m), fresh_signed_url(server, other)]
    assert all(requests.get(u, timeout=TIMEOUT).status_code == 200 for u in old_urls)
    kid = query_of(old_urls[0])["Key-Pair-Id"]
    assert query_of(old_urls[1])["Key-Pair-Id"] == kid
    assert kid in active_kids(server)

    assert signing_keys.retire(server.runtime, kid, actor="test")
    assert kid not in active_kids(server)

    assert wait_for_status(old_urls[0], 403) == 403
    assert_refused(requests.get(old_urls[0], timeout=TIMEOUT), "invalid")
    assert_refused(requests.get(old_urls[1], timeout=TIMEOUT), "invalid")

    new = fresh_signed_url(server, m)
    assert query_of(new)["Key-Pair-Id"] != kid
    served = requests.get(new, timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == m.body


def test_cli_rotate_with_retire_old_revokes_urls(server: RunningServer, files: FileServer) -> None:
    m = secured_media(server, files)
    old = fresh_signed_url(server, m)
    old_kid = query_of(old)["Key-Pair-Id"]
    assert requests.get(old, timeout=TIMEOUT).status_code == 200

    # In this process (tests/support/cli.py): the executable's run of this command is
    # tests/e2e/test_key_rotation_staged.py's. The server is still another process.
    result = run_cli(
        {**server.env, "MEDIAGATE_LOG_LEVEL": "warning"}, "signing-keys", "rotate", "--retire-old"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert old_kid in result.stdout and "retired" in result.stdout
    (new_kid,) = active_kids(server)
    assert new_kid != old_kid

    assert wait_for_status(old, 403) == 403
    assert_refused(requests.get(old, timeout=TIMEOUT), "invalid")
    new = fresh_signed_url(server, m)
    assert query_of(new)["Key-Pair-Id"] == new_kid
    assert requests.get(new, timeout=TIMEOUT).content == m.body


def test_rotate_without_retiring_keeps_old_urls(server: RunningServer, files: FileServer) -> None:
    m = secured_media(server, files)
    old = fresh_signed_url(server, m)
    old_kid = query_of(old)["Key-Pair-Id"]
    new_key = signing_keys.create(server.runtime, actor="test")

    # The server moves to the new key for new URLs within its refresh interval ...
    deadline = time.monotonic() + 5
    while query_of(fresh_signed_url(server, m))["Key-Pair-Id"] != new_key.kid:
        assert time.monotonic() < deadline, "the server never started signing with the new key"
        time.sleep(0.1)
    # ... and URLs signed with the old, still active key keep working.
    assert old_kid in active_kids(server)
    r = requests.get(old, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == m.body
