"""What the malformed-request tests share on both tiers (tests/e2e/test_bad_input.py over a real
server, tests/inprocess/test_api_bad_input.py with the app in process): an account that already
holds a message with stored media, and the fixture that asserts it is left exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from sqlalchemy import func, select

from mediagate.db.models import Media, Message
from tests.support.clients import settled_message
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account, RunningServer

TO = "+15551230001"
ARABIC_INDIC_10 = "".join(chr(0x660 + int(d)) for d in "5551230001")
FULLWIDTH_10 = "".join(chr(0xFF10 + int(d)) for d in "5551230001")
FROM = "+15557650001"
HEX = "0123456789abcdef" * 2


@dataclass(frozen=True)
class Snapshot:
    messages: int
    media: int
    files: tuple[str, ...]


def snapshot(server: RunningServer, account_sid: str) -> Snapshot:
    """The account's message and media rows and its stored files. Scoped to one account
    because other tests' background work (loopback delivery) may still be writing rows of
    their own accounts on this shared server."""
    rt = server.runtime
    with rt.sessions() as session:
        messages = session.scalar(
            select(func.count()).select_from(Message).where(Message.account_sid == account_sid)
        )
        media = session.scalar(
            select(func.count()).select_from(Media).where(Media.account_sid == account_sid)
        )
    root = rt.settings.media_dir
    files = tuple(sorted(str(p.relative_to(root)) for p in (root / account_sid).rglob("*") if p.is_file()))
    return Snapshot(messages or 0, media or 0, files)


@dataclass(frozen=True)
class Victim:
    """An account that already holds a message with stored media, so a request that
    wrongly deleted something would show up as well as one that wrongly created something."""

    acct: Account
    message_sid: str
    media_sid: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.acct.sid, self.acct.token)

    def api(self, server: RunningServer, path: str) -> str:
        return f"{server.base_url}/2010-04-01/Accounts/{self.acct.sid}{path}"


def make_victim(server: RunningServer, files: FileServer) -> Victim:
    """The module fixture ``victim`` of both files."""
    acct = server.new_account("bad-input")
    url = files.add(f"/bad-input/{acct.sid}/kept.png", png_bytes(4096))
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "keep me", "MediaUrl": url},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    message_sid = r.json()["sid"]
    settled_message(server, acct, message_sid)  # stored after the create answered
    media = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}/Media.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()["media_list"]
    return Victim(acct, message_sid, media[0]["sid"])


@contextmanager
def unchanged_around(server: RunningServer, victim: Victim) -> Iterator[None]:
    """Asserts after the test that the database and the media folder are exactly as before."""
    before = snapshot(server, victim.acct.sid)
    assert before == Snapshot(1, 1, before.files) and len(before.files) == 1
    yield
    assert snapshot(server, victim.acct.sid) == before
    # And the existing message and its media are still served.
    r = requests.get(
        victim.api(server, f"/Messages/{victim.message_sid}/Media/{victim.media_sid}"),
        auth=victim.auth,
        timeout=10,
    )
    assert r.status_code == 200 and r.content == png_bytes(4096)
