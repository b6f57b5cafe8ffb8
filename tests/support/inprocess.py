"""The app in this process: ``create_app`` behind ``httpx.ASGITransport``, with a
``requests`` session in front, so a test written against ``requests`` runs on it as
it does on a real server.

The app's lifespan (its workers) runs on an event loop of its own thread for as
long as the context is open; each request is handed to that loop. The session's
adapter answers every URL under the runtime's ``public_url`` (``http://mediagate.test``),
so redirects to ``/_media/...`` stay in process too. What only the real server does
(granian's header parsing, the RSGI fast path, several processes) is the
end-to-end tier's (tests/e2e)."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPHeaderDict

from mediagate.accounts import accounts
from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.messaging import number_pool
from mediagate.runtime.context import Runtime, build_runtime
from tests.support.databases import fresh_database
from tests.support.server import Account

BASE_URL = "http://mediagate.test"
T = TypeVar("T")


class _Loop:
    """An event loop in a thread, running the app's lifespan until closed."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="in-process-app", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class _Raw:
    """What ``requests`` reads cookies from (``response.raw._original_response.msg``) and
    what a test reads repeated headers from (``response.raw.headers.getlist``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        msg = Message()
        for k, v in pairs:
            msg[k] = v
        self._original_response = self  # http.client's response: only ``msg`` is read
        self.msg = msg
        self.headers = HTTPHeaderDict()
        for k, v in pairs:
            self.headers.add(k, v)

    def release_conn(self) -> None:
        pass


class _ASGIAdapter(BaseAdapter):
    """``requests`` -> ``httpx.ASGITransport`` on the app's loop. Every header the app
    sent is kept (``raw``): a session stores ``Set-Cookie`` as from a real server (the
    console's sign-in), and repeated headers stay apart."""

    def __init__(self, loop: _Loop, transport: httpx.ASGITransport) -> None:
        super().__init__()
        self._loop = loop
        self._transport = transport

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body
        content = body.encode() if isinstance(body, str) else (body or b"")
        assert isinstance(content, bytes), type(content)
        sent = httpx.Request(
            str(request.method), str(request.url), headers=list(request.headers.items()), content=content
        )

        async def go() -> tuple[int, list[tuple[str, str]], bytes]:
            answer = await self._transport.handle_async_request(sent)
            data = await answer.aread()
            return answer.status_code, answer.headers.multi_items(), data

        status, pairs, data = self._loop.run(go())
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(httpx.Headers(pairs).items())
        response.raw = _Raw(pairs)
        response._content = data
        response.url = str(request.url)
        response.request = request
        response.encoding = "utf-8"
        response.reason = httpx.codes.get_reason_phrase(status)
        return response

    def close(self) -> None:
        pass

    def fresh(self) -> _ASGIAdapter:
        """Another adapter to the same app (for a session with cookies of its own)."""
        return _ASGIAdapter(self._loop, self._transport)


@dataclass
class InProcessServer:
    """What tests/support/server.RunningServer offers a test, with the app in this process:
    ``http`` is the ``requests`` session that reaches it at ``base_url``."""

    base_url: str
    runtime: Runtime
    http: requests.Session

    def new_account(self, name: str = "in-process") -> Account:
        created = accounts.create(self.runtime, name)
        return Account(created.account.sid, created.auth_token)

    def assign_number(self, account_sid: str, number: str) -> None:
        number_pool.assign(self.runtime, number, account_sid)


@contextmanager
def in_process_server(backend: str, tmp: Path, **settings: Any) -> Iterator[InProcessServer]:
    """A runtime on a database cloned from the migrated template (``backend``:
    sqlite or postgresql), its app's lifespan running, and a session to reach it."""
    with fresh_database(backend, tmp) as url:
        base: Mapping[str, Any] = {
            "data_dir": tmp / "data",
            "database_url": url,
            "secret_key": secrets.token_hex(32),
            "public_url": BASE_URL,
            "allow_private_media_urls": True,
        }
        rt = build_runtime(Settings(**{**base, **settings}))
        try:
            with app_session(rt) as session:
                yield InProcessServer(BASE_URL, rt, session)
        finally:
            rt.close()


@contextmanager
def app_session(rt: Runtime) -> Iterator[requests.Session]:
    """``rt``'s app with its lifespan running, and a ``requests`` session that
    reaches it at ``rt.settings.public_url`` (relative URLs are resolved there).
    The runtime stays the caller's to close."""
    loop = _Loop()
    stack = AsyncExitStack()
    try:
        app = create_app(rt)

        async def start() -> None:
            await stack.enter_async_context(app.router.lifespan_context(app))

        loop.run(start())
        session = _Rooted(rt.settings.public_url)
        session.mount(rt.settings.public_url + "/", _ASGIAdapter(loop, httpx.ASGITransport(app=app)))
        try:
            yield session
        finally:
            session.close()
            loop.run(stack.aclose())
    finally:
        loop.close()


class _Rooted(requests.Session):
    """A session whose relative URLs (``/2010-04-01/...``) go to one base URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        return super().request(method, url, *args, **kwargs)
