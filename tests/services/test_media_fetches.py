"""Sends answer at once; MediaUrls are fetched afterwards, durably (issue 25, finding 1).

In process, on SQLite and PostgreSQL: the create answers ``queued`` while the
media server still holds the fetch; a failure fails the message (11200) and
fires its status callback; a new runtime on the same database resumes a fetch
whose process died; two runtimes never fetch the same message twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mediagate.accounts import accounts
from mediagate.core.clock import ManualClock
from mediagate.db.models import Media, Message
from mediagate.http.app import create_app
from mediagate.messaging import media_fetches, messages
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.fileserver import PNG, FileServer, png_bytes
from tests.support.loops import eventually, run_fresh
from tests.support.receiver import Receiver
from tests.support.slow import running_slow_server

TO = "+15551230001"
FROM = "+15557650001"
BASE = "http://mediagate.test"


class HeldServer:
    """Serves a PNG for every GET, but only once ``release`` is called; counts the GETs."""

    def __init__(self) -> None:
        self.gets: list[str] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.gets.append(self.path)
                outer.released.wait(30)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def count(self, path: str) -> int:
        with self._lock:
            return self.gets.count(path)


@contextmanager
def held_server() -> Iterator[HeldServer]:
    server = HeldServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.httpd.shutdown()
        server.httpd.server_close()


def _message(rt: Runtime, sid: str) -> Message:
    with rt.sessions() as session:
        message = session.get(Message, sid)
        assert message is not None
        return message


def _media(rt: Runtime, sid: str) -> list[Media]:
    with rt.sessions() as session:
        return list(session.scalars(select(Media).where(Media.message_sid == sid)))


def _create(rt: Runtime, account_sid: str, urls: list[str], **kw: Any) -> str:
    new = messages.NewMessage(kw.get("to", TO), kw.get("from_", FROM), kw.get("body", ""), urls)
    return messages.create(rt, account_sid, new, actor="test").sid


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=30)


def test_create_answers_while_the_media_server_holds_the_fetch(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(media_fetch_poll_interval=0.05)
    made = accounts.create(rt, "stalled media")
    sid, token = made.account.sid, made.auth_token
    app = create_app(rt)
    with running_slow_server() as slow:
        url = slow.url(f"/drip/{sid}.png")

        async def main() -> tuple[httpx.Response, int, httpx.Response, httpx.Response]:
            async with app.router.lifespan_context(app), _client(app) as client:
                created = await client.post(
                    f"/2010-04-01/Accounts/{sid}/Messages.json",
                    data={"To": TO, "From": FROM, "MediaUrl": url},
                    auth=(sid, token),
                )
                # The worker has started fetching and the server still holds it.
                slow.wait_for(1, f"/drip/{sid}.png", timeout=30)
                holding = slow.active
                message_sid = created.json()["sid"]
                path = f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}"
                fetched = await client.get(path + ".json", auth=(sid, token))
                media = await client.get(path + "/Media.json", auth=(sid, token))
                slow.stop()  # the drip ends: the fetch fails, the lifespan can end
                return created, holding, fetched, media

        created, holding, fetched, media = run_fresh(main)
    assert created.status_code == 201, created.text
    body = created.json()
    # Twilio's create answer: queued, no media counted yet, no error.
    assert body["status"] == "queued" and body["num_media"] == "0" and body["error_code"] is None
    assert body["sid"].startswith("MM") and body["date_sent"] is None
    assert holding >= 1, "the create answered only after the media server let go"
    assert fetched.json()["status"] == "queued"
    assert media.json()["media_list"] == []  # nothing half-stored is listed


def test_a_failed_fetch_fails_the_message_with_11200_and_calls_back(
    make_runtime: MakeRuntime, files: FileServer, receiver: Receiver
) -> None:
    rt = make_runtime(media_fetch_poll_interval=0.05)
    made = accounts.create(rt, "missing media")
    sid, token = made.account.sid, made.auth_token
    missing = files.add(f"/fetches/{sid}/missing.png", b"", status=404)
    app = create_app(rt)

    async def main() -> tuple[httpx.Response, dict[str, Any]]:
        async with app.router.lifespan_context(app), _client(app) as client:
            created = await client.post(
                f"/2010-04-01/Accounts/{sid}/Messages.json",
                data={"To": TO, "From": FROM, "MediaUrl": missing, "StatusCallback": receiver.url("/status")},
                auth=(sid, token),
            )
            path = f"/2010-04-01/Accounts/{sid}/Messages/{created.json()['sid']}.json"

            async def settled() -> dict[str, Any]:
                while True:
                    got: dict[str, Any] = (await client.get(path, auth=(sid, token))).json()
                    if got["status"] != "queued":
                        return got
                    await asyncio.sleep(0.05)

            final = await settled()
            # Delivered by the webhook worker while the app still runs.
            await asyncio.to_thread(receiver.wait_for, "/status")
            return created, final

    created, final = run_fresh(main)
    assert created.status_code == 201 and created.json()["status"] == "queued"
    assert final["status"] == "failed" and final["error_code"] == 11200 and final["error_message"]
    assert final["num_media"] == "0" and final["date_sent"] is None
    [callback] = receiver.wait_for("/status")
    form = callback.form
    assert form["MessageSid"] == final["sid"] and form["MessageStatus"] == "failed"
    assert form["ErrorCode"] == "11200"
    assert _media(rt, final["sid"]) == []
    assert media_fetches.pending(rt) == 0


def test_a_restarted_runtime_resumes_a_fetch_whose_process_died(
    make_runtime: MakeRuntime, files: FileServer
) -> None:
    clock = ManualClock()
    first = make_runtime(clock=clock)
    account = accounts.create(first, "restart").account.sid
    body = png_bytes(2048)
    url = files.add(f"/fetches/{account}/resume.png", body)
    message_sid = _create(first, account, [url])
    # The first process claimed the fetch and died before it stored anything.
    assert media_fetches.claim(first, message_sid) is not None
    first.close()

    second = make_runtime(clock=clock)
    worker = media_fetches.Worker(second)
    assert worker.run_once() == 0  # the dead process's claim still holds
    assert files.hits(f"/fetches/{account}/resume.png") == 0
    clock.advance(second.settings.media_fetch_lease + 1)
    assert worker.run_once() == 1
    eventually(lambda: media_fetches.pending(second) == 0)
    eventually(lambda: worker.running() == 0)
    [media] = _media(second, message_sid)
    assert media.size == len(body) and media.content_type == "image/png"
    message = _message(second, message_sid)
    assert message.status == "queued" and message.num_media == 1  # now the carrier's (outbox)
    assert files.hits(f"/fetches/{account}/resume.png") == 1


def test_two_runtimes_never_fetch_the_same_message(make_runtime: MakeRuntime) -> None:
    one = make_runtime()
    two = make_runtime()
    account = accounts.create(one, "two workers").account.sid
    with held_server() as server:
        paths = [f"/{account}/m{i}.png" for i in range(4)]
        sids = [_create(one, account, [server.base + p]) for p in paths]
        workers = [media_fetches.Worker(one), media_fetches.Worker(two)]
        # Both look for work while every fetch is held: each message is claimed once.
        started = sum(w.run_once() for w in workers) + sum(w.run_once() for w in workers)
        assert started == len(sids)
        eventually(lambda: len(server.gets) == len(sids))
        server.released.set()
        eventually(lambda: media_fetches.pending(one) == 0)
        eventually(lambda: all(w.running() == 0 for w in workers))
        assert all(server.count(p) == 1 for p in paths), server.gets
    assert [len(_media(one, sid)) for sid in sids] == [1] * len(sids)


def test_the_fetch_slots_of_an_account_are_kept(make_runtime: MakeRuntime) -> None:
    """Per-account fairness holds in the background too: with a share of 1, the
    second message of the account waits while the first is held; another
    account's message is fetched meanwhile."""
    rt = make_runtime(fetch_concurrency=4, fetch_concurrency_per_account=1)
    busy = accounts.create(rt, "busy").account.sid
    other = accounts.create(rt, "other").account.sid
    with held_server() as server:
        first = _create(rt, busy, [f"{server.base}/{busy}/1.png"])
        second = _create(rt, busy, [f"{server.base}/{busy}/2.png"])
        third = _create(rt, other, [f"{server.base}/{other}/3.png"])
        worker = media_fetches.Worker(rt)
        assert worker.run_once() == 2  # busy's first and other's; busy's second waits
        eventually(lambda: len(server.gets) == 2)
        assert sorted(server.gets) == sorted([f"/{busy}/1.png", f"/{other}/3.png"])
        server.released.set()
        eventually(lambda: worker.running() == 0)
        assert worker.run_once() == 1
        eventually(lambda: media_fetches.pending(rt) == 0)
        eventually(lambda: worker.running() == 0)
    assert [len(_media(rt, sid)) for sid in (first, second, third)] == [1, 1, 1]


def test_one_accounts_backlog_does_not_hide_another_accounts_fetch(make_runtime: MakeRuntime) -> None:
    """More queued fetches of a busy account than one look at the table takes
    (media_fetches.BATCH): the other account's, behind them, still starts."""
    rt = make_runtime(fetch_concurrency=4, fetch_concurrency_per_account=1)
    busy = accounts.create(rt, "backlog").account.sid
    other = accounts.create(rt, "behind").account.sid
    with held_server() as server:
        for i in range(media_fetches.BATCH + 5):
            _create(rt, busy, [f"{server.base}/{busy}/{i}.png"])
        late = _create(rt, other, [f"{server.base}/{other}/late.png"])
        worker = media_fetches.Worker(rt)
        assert worker.run_once() == 2
        eventually(lambda: len(server.gets) == 2)
        assert sorted(server.gets) == sorted([f"/{busy}/0.png", f"/{other}/late.png"])
        server.released.set()
        eventually(lambda: worker.running() == 0)
    assert len(_media(rt, late)) == 1


def test_a_deleted_message_keeps_no_media(make_runtime: MakeRuntime, files: FileServer) -> None:
    rt = make_runtime()
    account = accounts.create(rt, "deleted").account.sid
    sid = _create(rt, account, [files.add(f"/fetches/{account}/gone.png", png_bytes(300))])
    messages.delete_message(rt, account, sid, actor="test")
    assert media_fetches.pending(rt) == 0
    assert media_fetches.due(rt) == []


@pytest.mark.parametrize("count", [11, 200, 1000])
def test_too_many_media_urls_is_21623_at_create(make_runtime: MakeRuntime, count: int) -> None:
    rt = make_runtime()
    made = accounts.create(rt, "many")
    sid, token = made.account.sid, made.auth_token
    app = create_app(rt)
    data = [("To", TO), ("From", FROM)] + [("MediaUrl", f"https://example.com/{i}.png") for i in range(count)]

    async def main() -> httpx.Response:
        async with _client(app) as client:
            return await client.post(
                f"/2010-04-01/Accounts/{sid}/Messages.json",
                content=httpx.QueryParams(data).__str__().encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                auth=(sid, token),
            )

    answer = run_fresh(main)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 21623
    with rt.sessions() as session:
        assert session.scalars(select(Message).where(Message.account_sid == sid)).all() == []
