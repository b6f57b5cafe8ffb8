"""boto3 (threadpool) vs aiobotocore (event loop) for streaming an object from S3.

Issue 11 asks to choose by measurement whether streaming from S3 on the event
loop needs aiobotocore. This is a bench-only ASGI app with two routes that do
the same two S3 calls (HEAD, then a GET streamed in 256 KiB chunks):

* ``/boto3/{key}`` is the production path itself: ``S3Store.open`` in the
  threadpool, then ``edge.ranges.blob_response`` (a ``StreamingResponse`` over
  boto3's blocking ``iter_chunks``: one threadpool hop per chunk);
* ``/aio/{key}`` is the prototype: one aiobotocore client per worker, the body
  read with ``await`` on the event loop.

No signature check or media row on either side: the comparison isolates the
client library. ``compare`` runs the app under granian with the same workers as
mediagate and alternates the two routes under wrk. aiobotocore is in the
``bench`` extra only (it is not a runtime dependency of mediagate).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from tests.support.seaweed import ObjectStore

from bench.harness import ROOT, Nginx, _stop, _wait_http, free_port, wrk
from bench.scenarios import MB, Config, alternate, png_bytes
from mediagate.storage.base import media_key
from mediagate.storage.s3 import CHUNK, S3Store

GRANIAN = Path(sys.executable).parent / "granian"
HEADERS = {"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff"}


def _bucket() -> str:
    return os.environ["BENCH_S3_BUCKET"]


def _endpoint() -> str:
    return os.environ["BENCH_S3_ENDPOINT"]


_state: dict[str, Any] = {}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    _state["store"] = S3Store(_bucket(), endpoint_url=_endpoint())
    async with contextlib.AsyncExitStack() as stack:
        _state["aio"] = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=_endpoint(),
                region_name="us-east-1",
                # The same pool size and addressing as storage/s3.py's boto3 client.
                config=AioConfig(
                    signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=64
                ),
            )
        )
        yield


async def boto3_route(request: Request) -> Response:
    store: S3Store = _state["store"]
    blob = await run_in_threadpool(store.open, request.path_params["key"])
    # The whole object, streamed from boto3's body as the media hosts stream it
    # (the same headers as the aiobotocore route below: only the client differs).
    headers = {**HEADERS, "Content-Length": str(blob.size), "Accept-Ranges": "bytes"}
    chunks = blob.stream(0, blob.size - 1) if blob.size else iter(())
    return StreamingResponse(chunks, headers=headers, media_type="image/png")


async def aio_route(request: Request) -> Response:
    client = _state["aio"]
    key = request.path_params["key"]
    head = await client.head_object(Bucket=_bucket(), Key=key)
    answer = await client.get_object(Bucket=_bucket(), Key=key)
    body = answer["Body"]

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await body.read(CHUNK):
                yield chunk
        finally:
            body.close()

    headers = {**HEADERS, "Content-Length": str(head["ContentLength"]), "Accept-Ranges": "bytes"}
    return StreamingResponse(chunks(), headers=headers, media_type="image/png")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/boto3/{key:path}", boto3_route),
        Route("/aio/{key:path}", aio_route),
    ],
    lifespan=lifespan,
)


@contextlib.contextmanager
def running_app(work: Path, store: ObjectStore, bucket: str, workers: int) -> Any:
    port = free_port()
    log_path = work / f"s3-stream-app-{port}.log"
    env = {
        **os.environ,
        **store.aws_env(),
        "BENCH_S3_BUCKET": bucket,
        "BENCH_S3_ENDPOINT": store.endpoint_url,
    }
    args = [
        str(GRANIAN), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-ws", "--log-level", "warning", "bench.s3_stream_app:app",
    ]  # fmt: skip
    with log_path.open("wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", proc, log_path, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def _workers(cfg: Config) -> int:
    args = list(cfg.serve_args)
    return int(args[args.index("--workers") + 1]) if "--workers" in args else 1


def compare(
    work: Path, nginx: Nginx, store: ObjectStore, cfg: Config, log: Callable[[str], None]
) -> dict[str, Any]:
    """Edge-from-S3 throughput and latency of both clients, at two concurrency levels."""
    bucket = store.new_bucket()
    client = store.client()
    # Keys in the media-key shape (AC…/ME…) that S3Store accepts.
    keys = {
        size: media_key("AC" + secrets.token_hex(16), "ME" + secrets.token_hex(16))
        for size in cfg.object_sizes
    }
    for size, key in keys.items():
        client.put_object(Bucket=bucket, Key=key, Body=png_bytes(size))
    levels = (cfg.connections, cfg.connections * 4)
    out: dict[str, Any] = {"workers": _workers(cfg), "connections": list(levels), "levels": {}}
    log(f"  S3 clients: boto3 threadpool vs aiobotocore ({out['workers']} granian workers)")
    with running_app(work, store, bucket, out["workers"]) as base:
        for size in cfg.object_sizes:
            a = httpx.get(f"{base}/boto3/{keys[size]}", timeout=30)
            b = httpx.get(f"{base}/aio/{keys[size]}", timeout=30)
            assert a.status_code == b.status_code == 200 and a.content == b.content == png_bytes(size)
        for conns in levels:
            level: dict[str, Any] = {}
            for size in cfg.object_sizes:
                log(f"   {size} bytes, {conns} connections")
                res = alternate(
                    cfg,
                    {
                        side: lambda side=side, size=size, conns=conns: wrk(
                            f"{base}/{side}/{keys[size]}", duration=cfg.duration, connections=conns
                        )
                        for side in ("boto3", "aio")
                    },
                    log,
                )
                for side in ("boto3", "aio"):
                    res[side]["mb_per_s"] = res[side]["rps"] * size / MB
                res["ratio_rps_aio"] = res["aio"]["rps"] / res["boto3"]["rps"]
                level[str(size)] = res
            out["levels"][str(conns)] = level
    return out
