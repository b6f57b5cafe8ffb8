"""A frozen or killed object store fails the requests that need it fast, and
slows nothing else (issue 23, finding 5).

SeaweedFS of this module's own behind a TCP proxy the test controls:
``freeze()`` keeps every connection open and forwards nothing (a SIGSTOPped
store, a black-holed route), ``stop()`` refuses (a killed store). Before the
deadlines, a download during a freeze waited for the whole outage (boto3's
60 s read timeout, three retries), and since the media hosts' reads ran on
the hot paths' threads, the content URL's 307s for *other* media waited too.
In-process tests on both databases, and once through ``mediagate serve``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from mediagate.accounts import accounts
from mediagate.http.app import create_app
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.databases import fresh_database
from tests.support.loops import run_fresh
from tests.support.seaweed import ObjectStore, running_seaweed
from tests.support.server import running_server
from tests.support.stored import message_with_media
from tests.support.tcpproxy import TcpProxy, tcp_proxy

pytestmark = pytest.mark.system

# The settings under test, small so that the test saturates them with few requests.
THREADS = 4
CONNECT, READ, ATTEMPTS, QUEUE = 2.0, 2.0, 2, 2.0
# docs/operations.md: a call fails after attempts x max(connect, read) + one
# backoff (< 1 s); a request may first wait up to the queue timeout for a thread.
CALL_BOUND = ATTEMPTS * max(CONNECT, READ) + 1
REQUEST_BOUND = QUEUE + CALL_BOUND
SLACK = 2.0  # two shared cores: scheduling, not the store


@pytest.fixture(scope="module")
def own_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """A SeaweedFS of this module only: nothing here touches another test's store.
    Its credentials go into the environment while the module runs (the S3
    backend reads the standard AWS chain, as in production)."""
    with running_seaweed(tmp_path_factory.mktemp("frozen-seaweed")) as store:
        saved = {k: os.environ.get(k) for k in store.aws_env()}
        os.environ.update(store.aws_env())
        try:
            yield store
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture
def proxy(own_store: ObjectStore) -> Iterator[TcpProxy]:
    endpoint = urlsplit(own_store.endpoint_url)
    with tcp_proxy(endpoint.hostname or "127.0.0.1", endpoint.port or 80) as p:
        yield p


def _runtime(make_runtime: MakeRuntime, own_store: ObjectStore, proxy: TcpProxy) -> Runtime:
    return make_runtime(
        storage_url=f"s3://{own_store.new_bucket()}/frozen",
        s3_endpoint_url=f"http://127.0.0.1:{proxy.port}",
        store_connect_timeout=CONNECT,
        store_read_timeout=READ,
        store_attempts=ATTEMPTS,
        store_queue_timeout=QUEUE,
        store_threads=THREADS,
        hot_path_threads=THREADS,
        gc_interval=0,
    )


def _assert_503(answer: httpx.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:300])
    assert answer.headers["retry-after"].isdigit()
    assert (answer.json()["code"], answer.json()["status"]) == (20503, 503)
    assert "127.0.0.1" not in answer.text  # nothing of the store's address


def test_downloads_held_by_a_frozen_store_get_503_fast_and_307s_keep_answering(
    make_runtime: MakeRuntime, own_store: ObjectStore, proxy: TcpProxy
) -> None:
    rt = _runtime(make_runtime, own_store, proxy)
    created = accounts.create(rt, "frozen")
    auth = (created.account.sid, created.auth_token)
    api = f"/2010-04-01/Accounts/{created.account.sid}"
    # Twice as many downloads as store threads (and as hot-path threads), and
    # media whose 307 was never asked (cold: answered off the loop, not from memory).
    downloads = [message_with_media(rt, created.account.sid) for _ in range(2 * THREADS)]
    others = [message_with_media(rt, created.account.sid) for _ in range(2 * THREADS)]
    app = create_app(rt)

    async def main() -> tuple[list[float], list[httpx.Response], list[tuple[float, bool]]]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test", timeout=120
            ) as client,
        ):
            signed = []
            for msg, med in downloads:
                answer = await client.get(f"{api}/Messages/{msg}/Media/{med}", auth=auth)
                assert answer.status_code == 307
                signed.append(answer.headers["location"])
            warm = await client.get(signed[0])
            assert warm.status_code == 200  # unfrozen: served (and the store's connections pooled)

            proxy.freeze()
            frozen_at = time.monotonic()

            async def download(url: str) -> tuple[float, httpx.Response]:
                answer = await client.get(url)
                return time.monotonic() - frozen_at, answer

            stuck = [asyncio.create_task(download(url)) for url in signed]
            await asyncio.sleep(0.5)  # every download is now waiting on the frozen store
            assert not any(task.done() for task in stuck)
            redirects = []
            for msg, med in others:
                started = time.monotonic()
                answer = await client.get(f"{api}/Messages/{msg}/Media/{med}", auth=auth)
                assert answer.status_code == 307, answer.text[:300]
                # Answered while the downloads still wait on the store: the 307s do not queue behind them.
                redirects.append((time.monotonic() - started, any(not task.done() for task in stuck)))
            results = await asyncio.gather(*stuck)
            return [elapsed for elapsed, _ in results], [answer for _, answer in results], redirects

    elapsed, answers, redirects = run_fresh(main)
    for answer in answers:
        _assert_503(answer)
    print(f"frozen store: downloads answered 503 after {min(elapsed):.2f}..{max(elapsed):.2f} s")
    print(f"307s during the freeze: {[round(took, 3) for took, _ in redirects]} s")
    assert max(elapsed) < REQUEST_BOUND + SLACK, elapsed
    # Each 307 completed while downloads were still held by the store.
    assert all(during for _, during in redirects[:THREADS]), redirects


def test_a_killed_store_answers_503_fast(
    make_runtime: MakeRuntime, own_store: ObjectStore, proxy: TcpProxy
) -> None:
    rt = _runtime(make_runtime, own_store, proxy)
    created = accounts.create(rt, "killed")
    auth = (created.account.sid, created.auth_token)
    api = f"/2010-04-01/Accounts/{created.account.sid}"
    msg, med = message_with_media(rt, created.account.sid)
    app = create_app(rt)

    async def main() -> tuple[float, httpx.Response, float, httpx.Response]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test", timeout=120
            ) as client,
        ):
            url = (await client.get(f"{api}/Messages/{msg}/Media/{med}", auth=auth)).headers["location"]
            assert (await client.get(url)).status_code == 200
            proxy.stop()  # connections reset, new ones refused
            started = time.monotonic()
            download = await client.get(url)
            took = time.monotonic() - started
            started = time.monotonic()
            deleted = await client.delete(f"{api}/Messages/{msg}/Media/{med}.json", auth=auth)
            return took, download, time.monotonic() - started, deleted

    took, download, delete_took, deleted = run_fresh(main)
    _assert_503(download)
    print(f"killed store: download 503 after {took:.2f} s;", end=" ")
    print(f"media delete answered {deleted.status_code} after {delete_took:.2f} s")
    assert took < CALL_BOUND + SLACK
    assert delete_took < CALL_BOUND + SLACK


def test_a_frozen_store_holds_a_media_delete_no_longer_than_the_bound(
    make_runtime: MakeRuntime, own_store: ObjectStore, proxy: TcpProxy
) -> None:
    rt = _runtime(make_runtime, own_store, proxy)
    created = accounts.create(rt, "frozen-delete")
    auth = (created.account.sid, created.auth_token)
    api = f"/2010-04-01/Accounts/{created.account.sid}"
    msg, med = message_with_media(rt, created.account.sid)
    app = create_app(rt)

    async def main() -> tuple[float, httpx.Response]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test", timeout=120
            ) as client,
        ):
            proxy.freeze()
            started = time.monotonic()
            answer = await client.delete(f"{api}/Messages/{msg}/Media/{med}.json", auth=auth)
            return time.monotonic() - started, answer

    took, answer = run_fresh(main)
    print(f"frozen store: media delete answered {answer.status_code} after {took:.2f} s")
    # The row went first (media/media.py: every URL answers 404 from then on);
    # the object's delete failed after the commit, which no reader can see: the
    # delete is answered as done and the object is left to the scheduled gc
    # (media/removal.py; tests/services/test_delete_store_outage.py).
    assert answer.status_code == 204, answer.text
    assert took < CALL_BOUND + SLACK


def test_a_real_server_keeps_answering_307s_while_its_store_is_frozen(
    own_store: ObjectStore, proxy: TcpProxy, tmp_path: Path
) -> None:
    """The same outage through ``mediagate serve`` (granian, the RSGI bridge),
    on PostgreSQL: what crosses the process is the server's own threading."""
    env = {
        "MEDIAGATE_STORAGE_URL": f"s3://{own_store.new_bucket()}/served",
        "MEDIAGATE_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        "MEDIAGATE_STORE_THREADS": str(THREADS),
        "MEDIAGATE_HOT_PATH_THREADS": str(THREADS),
        "MEDIAGATE_GC_INTERVAL": "0",
        **own_store.aws_env(),
    }
    with fresh_database("postgresql", tmp_path) as url, running_server(tmp_path / "data", url, **env) as srv:
        account = srv.new_account("frozen-served")
        downloads = [message_with_media(srv.runtime, account.sid) for _ in range(2 * THREADS)]
        others = [message_with_media(srv.runtime, account.sid) for _ in range(2 * THREADS)]
        api = f"{srv.base_url}/2010-04-01/Accounts/{account.sid}"
        auth = (account.sid, account.token)

        async def main() -> tuple[list[float], list[httpx.Response], list[bool]]:
            async with httpx.AsyncClient(timeout=120) as client:
                signed = []
                for msg, med in downloads:
                    answer = await client.get(f"{api}/Messages/{msg}/Media/{med}", auth=auth)
                    assert answer.status_code == 307, answer.text
                    signed.append(answer.headers["location"])
                assert (await client.get(signed[0])).status_code == 200
                proxy.freeze()
                frozen_at = time.monotonic()

                async def download(url: str) -> tuple[float, httpx.Response]:
                    answer = await client.get(url)
                    return time.monotonic() - frozen_at, answer

                stuck = [asyncio.create_task(download(u)) for u in signed]
                await asyncio.sleep(0.5)
                assert not any(task.done() for task in stuck)
                during = []
                for msg, med in others:
                    answer = await client.get(f"{api}/Messages/{msg}/Media/{med}", auth=auth)
                    assert answer.status_code == 307, answer.text[:300]
                    during.append(any(not task.done() for task in stuck))
                results = await asyncio.gather(*stuck)
                return [e for e, _ in results], [a for _, a in results], during

        elapsed, answers, during = run_fresh(main)
    for answer in answers:
        _assert_503(answer)
    print(f"served, frozen store: downloads 503 after {min(elapsed):.2f}..{max(elapsed):.2f} s")
    assert max(elapsed) < REQUEST_BOUND + SLACK, elapsed
    assert all(during[:THREADS]), during
