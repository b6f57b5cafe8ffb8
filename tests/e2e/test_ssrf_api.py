"""SSRF protection seen through the API: with private MediaUrl hosts refused (the production
default), every spelling of a loopback, private or metadata address is a 400 / 21620, creates no
message, and the target never receives a request."""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from mediagate.db.models import Media, Message
from mediagate.media.addresses import is_forbidden
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.server import Account, RunningServer

TO = "+15551230001"
FROM = "+15557650001"
WARNING = "MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS"


def private_spellings(port: int, path: str) -> list[str]:
    """Ways to name this machine (where the file server listens) or another internal host."""
    return [
        f"http://127.0.0.1:{port}{path}",
        f"http://127.1:{port}{path}",
        f"http://2130706433:{port}{path}",
        f"http://0x7f000001:{port}{path}",
        f"http://0x7F.0.0.1:{port}{path}",
        f"http://0177.0.0.1:{port}{path}",
        f"http://017700000001:{port}{path}",
        f"http://127.0.0.1.:{port}{path}",
        f"http://[::1]:{port}{path}",
        f"http://[::ffff:127.0.0.1]:{port}{path}",
        f"http://[::ffff:7f00:1]:{port}{path}",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}{path}",
        f"http://[::127.0.0.1]:{port}{path}",
        f"http://[64:ff9b::127.0.0.1]:{port}{path}",
        f"http://localhost:{port}{path}",
        f"http://LOCALHOST:{port}{path}",
        f"http://localhost.:{port}{path}",
        f"http://media.localhost:{port}{path}",
        f"http://0.0.0.0:{port}{path}",
        f"http://0:{port}{path}",
        f"https://127.0.0.1:{port}{path}",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/x.png",
        "http://172.16.0.1/x.png",
        "http://192.168.1.1/x.png",
        "http://100.64.0.1/x.png",
        "http://[fe80::1]/x.png",
        "http://[fc00::1]/x.png",
    ]


def message_count(server: RunningServer, acct: Account) -> tuple[int, int]:
    with server.runtime.sessions() as session:
        messages = session.scalar(
            select(func.count()).select_from(Message).where(Message.account_sid == acct.sid)
        )
        media = session.scalar(select(func.count()).select_from(Media).where(Media.account_sid == acct.sid))
    return messages or 0, media or 0


def post(server: RunningServer, acct: Account, media_urls: list[str]) -> requests.Response:
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "ssrf", "MediaUrl": media_urls},
        auth=(acct.sid, acct.token),
        timeout=30,
    )


def fetch(server: RunningServer, acct: Account, sid: str) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()
    return body


def assert_refused(r: requests.Response, url: str) -> None:
    assert r.status_code == 400, (url, r.text)
    body = r.json()
    assert body["code"] == 21620 and body["status"] == 400, (url, body)
    assert body["more_info"] == "https://www.twilio.com/docs/errors/21620"


def test_private_media_hosts_are_refused_before_any_request(
    server_factory: Callable[..., RunningServer], files: FileServer
) -> None:
    # One strict server for every check below: starting a server is the slow part.
    strict = server_factory(MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS="false")
    acct = strict.new_account("ssrf")
    path = f"/ssrf/{acct.sid}/secret.png"
    files.add(path, png_bytes(500))
    hits_before = files.hits()

    # Every spelling of loopback, private, link-local and metadata addresses.
    for url in private_spellings(files.port, path):
        assert_refused(post(strict, acct, [url]), url)

    # A private URL among harmless-looking ones refuses the whole message, before fetching any.
    mixed = f"http://127.1:{files.port}{path}"
    assert_refused(post(strict, acct, ["https://media.example.com/a.png", mixed]), mixed)

    # A name not spelled as an address (this machine's host name, which resolves to loopback
    # here) is checked after DNS resolution, before connecting.
    name = socket.gethostname()
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(name, files.port, type=socket.SOCK_STREAM)}
    except OSError:
        resolved = set()
    checked_dns = bool(resolved) and all(is_forbidden(ip_address(a)) for a in resolved)
    by_name_failed = 0
    if checked_dns:
        # Resolving is part of the fetch, which runs after the create has answered (as
        # Twilio's does): the message is queued, then fails with 21620 and nothing is fetched.
        by_name = f"http://{name}:{files.port}{path}"
        created = post(strict, acct, [by_name])
        assert created.status_code == 201, created.text
        failed = eventually(
            lambda: (m := fetch(strict, acct, created.json()["sid"]))["status"] != "queued" and m
        )
        assert failed["status"] == "failed" and failed["error_code"] == 21620, failed
        by_name_failed = 1

    # Nothing else was created and the target got no request at all.
    assert message_count(strict, acct) == (by_name_failed, 0)
    assert files.hits() == hits_before
    listed = requests.get(
        f"{strict.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()
    assert len(listed["messages"]) == by_name_failed

    # The strict server is otherwise working (a text message goes through) and does not warn.
    ok = requests.post(
        f"{strict.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "plain text is fine"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert ok.status_code == 201
    assert message_count(strict, acct) == (1 + by_name_failed, 0)
    assert WARNING not in strict.log()
    if not checked_dns:
        pytest.skip(
            f"host name {name!r} does not resolve to a private address here ({resolved}); "
            "every other check passed"
        )


def test_permissive_server_warns_loudly_and_fetches_loopback(
    server: RunningServer, files: FileServer
) -> None:
    """The default test server allows private hosts, says so in its log, and the very URL the
    strict server refused does reach the file server (so the hit counter above proves something)."""
    log = server.log()
    assert WARNING in log
    warning = next(line for line in log.splitlines() if WARNING in line)
    assert "never run it in production" in warning and "!!!" in warning
    acct = server.new_account("ssrf-permissive")
    path = f"/ssrf/{acct.sid}/allowed.png"
    files.add(path, png_bytes(500))
    r = post(server, acct, [f"http://127.1:{files.port}{path}"])
    assert r.status_code == 201, r.text
    assert r.json()["num_media"] == "0"  # Twilio's create answer: fetched afterwards
    done = eventually(lambda: (m := fetch(server, acct, r.json()["sid"]))["status"] != "queued" and m)
    assert done["num_media"] == "1" and done["error_code"] is None, done
    assert files.hits(path) == 1
