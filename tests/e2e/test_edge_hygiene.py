"""The media hosts after issue 8: the saved filename follows the stored type (item 8),
Range is read canonically (item 6), shared caches revalidate public media and a
suspended account's legacy media is hidden (item 12)."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.test_subaccounts import accounts_url, new_subaccount
from tests.support.fileserver import FileServer, png_bytes
from tests.support.media_steps import (
    StoredMedia,
    add_media,
    one_media,
    public_url,
    send_media,
    signed_url,
    sms,
)
from tests.support.server import Account, RunningServer

HTML = b"<!doctype html><script>alert(document.domain)</script>"


@pytest.fixture(scope="module")
def a_message(server: RunningServer) -> tuple[Account, str]:
    """One account and message per server; each filename case adds its own media to it."""
    acct = server.new_account("names-by-type")
    return acct, sms(server, acct)


@pytest.mark.parametrize(
    ("content_type", "body", "stored_name", "served_name"),
    [
        ("text/csv", HTML, "evil.html", "evil.csv"),
        ("image/png", png_bytes(300), "setup.exe", "setup.png"),
        ("image/png", png_bytes(301), "cat.png", "cat.png"),
        ("image/jpeg", b"\xff\xd8\xff\xe0" + b"j" * 50, "photo.jpeg", "photo.jpeg"),
        ("application/pdf", b"%PDF-1.4 x", "report", "report.pdf"),
        ("application/x-mediagate-unknown", b"???", "run.html", "run.bin"),
    ],
)
def test_served_filename_extension_follows_the_stored_type(
    server: RunningServer,
    a_message: tuple[Account, str],
    content_type: str,
    body: bytes,
    stored_name: str,
    served_name: str,
) -> None:
    acct, message_sid = a_message
    m = add_media(server, acct, message_sid, content_type, body, filename=stored_name)
    r = requests.get(signed_url(m), timeout=30)
    assert r.status_code == 200 and r.content == body
    cd = r.headers["Content-Disposition"]
    assert f'filename="{served_name}"' in cd and f"filename*=UTF-8''{served_name}" in cd


@pytest.fixture(scope="module")
def both_hosts(server: RunningServer, files: FileServer) -> tuple[StoredMedia, StoredMedia]:
    """An auth-required media (secured host) and a legacy one (public host), per server,
    for the Range tests: they only read them, so the matrix need not ingest two media
    per item."""
    secured = one_media(server, files)
    legacy = one_media(server, files, enforce=False, body=png_bytes(2222))
    return secured, legacy


@pytest.mark.parametrize(
    "header",
    [
        "bytes=+0-3",
        "bytes=0-1_0",  # int("1_0") == 10
        "bytes=00-3",
        "bytes=0 - 3",
        "bytes=3-0",
        "bytes=-",
        "bytes=x-y",
        "items=0-3",
        "bytes=" + ",".join(["0-1"] * 17),
    ],
)
def test_non_canonical_range_is_400_on_both_hosts(
    server: RunningServer, both_hosts: tuple[StoredMedia, StoredMedia], header: str
) -> None:
    secured, legacy = both_hosts
    for url in (signed_url(secured), public_url(server, legacy)):
        r = requests.get(url, headers={"Range": header}, timeout=30)
        assert r.status_code == 400, (url, header, r.status_code)
        assert r.json()["reason"] == "bad_range"
        assert b"PNG" not in r.content


def test_a_range_with_non_ascii_bytes_never_reaches_the_parser(
    server: RunningServer, both_hosts: tuple[StoredMedia, StoredMedia]
) -> None:
    """Superscript two is the non-ASCII "digit" that ``int()`` accepts. Under
    granian (the default server) a header value that is not visible ASCII is
    dropped before the app sees it, so such a Range is no range at all: the
    whole object, never a part cut by a misread number, on both hosts."""
    secured, legacy = both_hosts
    for m, url in ((secured, signed_url(secured)), (legacy, public_url(server, legacy))):
        r = requests.get(url, headers={"Range": "bytes=0-\u00b2"}, timeout=30)
        assert r.status_code == 200 and r.content == m.body, (url, r.status_code)
        assert "content-range" not in r.headers


def test_canonical_ranges_still_work(both_hosts: tuple[StoredMedia, StoredMedia]) -> None:
    m, _ = both_hosts
    url = signed_url(m)
    for header, part in (("bytes=0-3", m.body[:4]), ("bytes=10-", m.body[10:]), ("bytes=-5", m.body[-5:])):
        r = requests.get(url, headers={"Range": header}, timeout=30)
        assert r.status_code == 206 and r.content == part, header


def test_public_media_is_revalidated_by_shared_caches(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, enforce=False, body=png_bytes(2345))
    r = requests.get(public_url(server, m), timeout=30)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "public, no-cache"
    # Revalidation is cheap: the ETag answers 304 while the media is unchanged ...
    again = requests.get(public_url(server, m), headers={"If-None-Match": r.headers["ETag"]}, timeout=30)
    assert again.status_code == 304
    # ... and a cache that revalidates after a delete learns it at once.
    deleted = requests.delete(m.metadata_url, auth=(m.account.sid, m.account.token), timeout=30)
    assert deleted.status_code == 204
    gone = requests.get(public_url(server, m), headers={"If-None-Match": r.headers["ETag"]}, timeout=30)
    assert gone.status_code == 404


def test_suspended_accounts_legacy_media_is_hidden(server: RunningServer, files: FileServer) -> None:
    parent = server.new_account("suspend-parent")
    sub = new_subaccount(server, parent, "legacy holder")
    off = requests.post(
        f"{server.base_url}/v1/Accounts/{sub.sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "false"},
        auth=(sub.sid, sub.token),
        timeout=30,
    )
    assert off.status_code == 200
    body = png_bytes(3456)
    (m,) = send_media(server, sub, [files.add(f"/suspend/{sub.sid}.png", body)], [body])
    url = public_url(server, m)
    assert requests.get(url, timeout=30).content == body

    def set_status(status: str) -> None:
        r = requests.post(
            accounts_url(server, sub.sid),
            data={"Status": status},
            auth=(parent.sid, parent.token),
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["status"] == status

    set_status("suspended")
    hidden = requests.get(url, timeout=30)
    assert hidden.status_code == 404 and body not in hidden.content
    set_status("active")
    assert requests.get(url, timeout=30).content == body
