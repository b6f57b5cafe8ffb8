"""A download racing a delete, or a store failing mid-download, answers a clear
error, never a 200 that breaks off (issue 9).

On S3 (and for sealed objects on any backend) the media hosts find the object
first (a HEAD) and read it afterwards (a GET). The soak caught what happened
when the object went away in between: the 200 and its headers had gone out
before the read failed, so the client saw a reset connection and the log a
500. The hosts now read the first chunk before they commit to a status.

The race is forced, not waited for: the store below does exactly what another
process's delete (or an outage of the object store) would do, at the one
moment that matters, right after the object was opened. Everything else is
real: the app, the database, SeaweedFS over TCP, the sealed store's key table.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mediagate.accounts import accounts
from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.runtime.context import Runtime, build_runtime
from mediagate.storage import Blob, MediaStore
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import run_fresh
from tests.support.seaweed import ObjectStore
from tests.support.tcpproxy import TcpProxy, tcp_proxy

# Storage shapes whose downloads go through ranged reads (plain local files are
# sent by the server from an open of the path: another code path).
SHAPES = ["s3", "sealed-s3", "sealed-local"]


class AfterOpen:
    """The runtime's own store, plus one action right after an ``open``."""

    def __init__(self, inner: MediaStore) -> None:
        self.inner = inner
        self.action: Callable[[str], None] | None = None

    def open(self, key: str) -> Blob:
        blob = self.inner.open(key)
        action, self.action = self.action, None
        if action is not None:
            action(key)
        return blob

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def _runtime(shape: str, db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    extra: dict[str, Any] = {}
    if shape.endswith("s3"):
        object_store: ObjectStore = request.getfixturevalue("object_store")
        proxy: TcpProxy = request.getfixturevalue("s3_proxy")
        extra["storage_url"] = f"s3://{object_store.new_bucket()}/race"
        extra["s3_endpoint_url"] = f"http://127.0.0.1:{proxy.port}"
    if shape.startswith("sealed"):
        extra["encryption"] = "on"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=secrets.token_hex(32),
        public_url="http://mediagate.test",
        allow_private_media_urls=True,
        gc_interval=0,
        **extra,
    )
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def s3_proxy(object_store: ObjectStore) -> Iterator[TcpProxy]:
    """The object store behind a proxy the test can cut: an outage, for real."""
    endpoint = urlsplit(object_store.endpoint_url)
    with tcp_proxy(endpoint.hostname or "127.0.0.1", endpoint.port or 80) as proxy:
        yield proxy


def _download(rt: Runtime, files: FileServer, arm: Callable[[AfterOpen], None]) -> list[httpx.Response]:
    """Create a message with one media, arm the store, download its signed URL
    twice (the race, then a second request on the same client), and return
    both answers."""
    created = accounts.create(rt, "race")
    auth = (created.account.sid, created.auth_token)
    store = AfterOpen(rt.store)
    rt.store = store  # type: ignore[assignment]
    app = create_app(rt)
    media_url = files.add(f"/race/{created.account.sid}.png", png_bytes(300_000))

    async def main() -> list[httpx.Response]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test", timeout=60
            ) as client,
        ):
            api = f"/2010-04-01/Accounts/{created.account.sid}"
            made = await client.post(
                f"{api}/Messages.json",
                data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": media_url},
                auth=auth,
            )
            assert made.status_code == 201, made.text
            sid = made.json()["sid"]
            # The media are fetched by the lifespan's worker after the create answered.
            while (await client.get(f"{api}/Messages/{sid}.json", auth=auth)).json()["status"] == "queued":
                await asyncio.sleep(0.05)
            listed = await client.get(f"{api}/Messages/{sid}/Media.json", auth=auth)
            content = f"{api}/Messages/{sid}/Media/{listed.json()['media_list'][0]['sid']}"
            signed = (await client.get(content, auth=auth)).headers["location"]
            whole = await client.get(signed)
            assert whole.status_code == 200 and len(whole.content) == 300_000  # unarmed: served
            arm(store)
            first = await client.get(signed, headers={"Range": "bytes=100-"})
            return [first, await client.get(signed)]

    return run_fresh(main)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_delete_between_open_and_read_answers_404(
    shape: str, backend: str, tmp_path: Path, files: FileServer, request: pytest.FixtureRequest
) -> None:
    with fresh_database(backend, tmp_path) as url, _runtime(shape, url, tmp_path, request) as rt:
        inner = rt.store

        def arm(store: AfterOpen) -> None:
            store.action = inner.delete  # another process deletes it right after our open

        raced, after = _download(rt, files, arm)
    assert raced.status_code == 404, (raced.status_code, raced.headers, raced.content[:200])
    assert raced.headers["content-type"] == "application/json"
    assert raced.json()["reason"] == "not_found"
    assert "content-range" not in raced.headers
    assert after.status_code == 404  # the object is gone for good, and said so again


@pytest.mark.parametrize("shape", ["s3", "sealed-s3"])
def test_an_object_store_outage_between_open_and_read_answers_503(
    shape: str, backend: str, tmp_path: Path, files: FileServer, request: pytest.FixtureRequest
) -> None:
    proxy: TcpProxy = request.getfixturevalue("s3_proxy")
    with fresh_database(backend, tmp_path) as url, _runtime(shape, url, tmp_path, request) as rt:

        def arm(store: AfterOpen) -> None:
            store.action = lambda _key: proxy.stop()  # the store goes away right after the HEAD

        raced, after = _download(rt, files, arm)
    for answer in (raced, after):
        assert answer.status_code == 503, (answer.status_code, answer.content[:200])
        assert answer.headers["retry-after"].isdigit()
        body = answer.json()
        assert (body["code"], body["status"]) == (20503, 503)
        assert "127.0.0.1" not in answer.text  # nothing of the store's address leaks
