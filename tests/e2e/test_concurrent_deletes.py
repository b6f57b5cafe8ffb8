"""Concurrent deletes against the real server: counts derived in SQL, one winner per delete.

Threads with their own connections hit the server at once (a barrier lines
them up), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from mediagate.db.models import AuditEvent, Media, Message
from tests.support.clients import settled_message
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account, RunningServer

pytestmark = pytest.mark.e2e

TIMEOUT = 60


def message_with_media(
    server: RunningServer, files: FileServer, acct: Account, n: int
) -> tuple[str, list[str]]:
    urls = [files.add(f"/concurrent/{acct.sid}/{i}.png", png_bytes(1000 + i)) for i in range(n)]
    base = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}"
    created = requests.post(
        f"{base}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": urls},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    sid = created.json()["sid"]
    # Fetched after the create answered (as on Twilio): wait for the media.
    assert settled_message(server, acct, sid)["num_media"] == str(n)
    listed = requests.get(f"{base}/Messages/{sid}/Media.json", auth=(acct.sid, acct.token), timeout=TIMEOUT)
    media = [m["sid"] for m in listed.json()["media_list"]]
    assert len(media) == n
    return sid, media


def at_once(calls: list[Callable[[], int]]) -> list[int]:
    """Run the calls on their own threads, released together."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], int]) -> int:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def delete(url: str, acct: Account) -> Callable[[], int]:
    def call() -> int:
        with requests.Session() as s:
            return s.delete(url, auth=(acct.sid, acct.token), timeout=TIMEOUT).status_code

    return call


def audit_rows(server: RunningServer, action: str, target: str) -> int:
    with server.runtime.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(AuditEvent.action == action, AuditEvent.target == target)
            )
            or 0
        )


def test_concurrent_deletes_of_all_media_leave_num_media_at_zero(
    server: RunningServer, files: FileServer
) -> None:
    acct = server.new_account("concurrent-media")
    message_sid, media = message_with_media(server, files, acct, 10)
    base = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}"
    statuses = at_once([delete(f"{base}/Media/{sid}.json", acct) for sid in media])
    assert statuses == [204] * 10
    fetched = requests.get(f"{base}.json", auth=(acct.sid, acct.token), timeout=TIMEOUT)
    assert fetched.json()["num_media"] == "0", fetched.text
    with server.runtime.sessions() as session:
        assert session.scalar(select(func.count()).where(Media.message_sid == message_sid)) == 0
        msg = session.get(Message, message_sid)
        assert msg is not None and msg.num_media == 0


def test_concurrent_deletes_of_one_media_answer_204_once(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("concurrent-one-media")
    message_sid, media = message_with_media(server, files, acct, 2)
    url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}/Media/{media[0]}.json"
    statuses = at_once([delete(url, acct) for _ in range(6)])
    assert sorted(statuses) == [204] + [404] * 5, statuses
    assert audit_rows(server, "media.delete", media[0]) == 1
    msg = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}.json",
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert msg.json()["num_media"] == "1", msg.text  # decremented once, not six times


def test_concurrent_deletes_of_one_message_answer_204_once(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("concurrent-message")
    message_sid, _media = message_with_media(server, files, acct, 3)
    url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}.json"
    statuses = at_once([delete(url, acct) for _ in range(6)])
    assert sorted(statuses) == [204] + [404] * 5, statuses
    assert audit_rows(server, "message.delete", message_sid) == 1
    with server.runtime.sessions() as session:
        assert session.get(Message, message_sid) is None
        assert session.scalar(select(func.count()).where(Media.message_sid == message_sid)) == 0


def test_deleting_a_message_while_its_media_are_deleted(server: RunningServer, files: FileServer) -> None:
    """Message and media deletes lock in the same order: no deadlock, no 5xx, nothing left."""
    acct = server.new_account("concurrent-mixed")
    message_sid, media = message_with_media(server, files, acct, 5)
    base = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}"
    calls = [delete(f"{base}/Media/{sid}.json", acct) for sid in media] + [delete(f"{base}.json", acct)]
    statuses = at_once(calls)
    assert set(statuses) <= {204, 404}, statuses
    assert statuses[-1] == 204  # the message delete always succeeds: nobody else deletes the message
    with server.runtime.sessions() as session:
        assert session.get(Message, message_sid) is None
        assert session.scalar(select(func.count()).where(Media.message_sid == message_sid)) == 0
