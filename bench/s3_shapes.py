"""The S3 shapes of `make bench` (issue 11): mediagate on PostgreSQL + SeaweedFS.

Beside the local-disk scenarios and against the same nginx reference:

* **edge from S3**: the secured host verifies its signature and streams the
  object from SeaweedFS (boto3 in the threadpool, ``edge/ranges.blob_response``);
  compared with nginx ``sendfile`` of the same bytes and with SeaweedFS serving
  the object's presigned URL itself (the store's own ceiling).
* **presign 307**: with ``MEDIAGATE_DELIVERY=presign`` the content URL answers
  a 307 to a SigV4-presigned GET; compared with nginx's static 307.
* **ingest to S3**: scenario 3's own loop (``scenarios.ingest``) on the S3 site,
  so its figures sit next to scenario 3's ingest-to-local.
* **boto3 vs aiobotocore** (``bench/s3_stream_app.py``): the same object streamed
  by the production code path and by an aiobotocore prototype, one app, same
  granian workers, alternating rounds.

SeaweedFS is started with the test suite's launcher (``tests/support/seaweed.py``).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from tests.support.seaweed import ObjectStore, running_seaweed

from bench.harness import Mediagate, Nginx, running_mediagate, running_nginx, wrk
from bench.scenarios import MB, Config, Site, alternate, database, ingest
from mediagate.accounts import accounts
from mediagate.core.settings import Settings
from mediagate.runtime.context import build_runtime

# The variables that point a server at one bucket of the store (ObjectStore.env).
S3_ENV = (
    "MEDIAGATE_STORAGE_URL",
    "MEDIAGATE_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)


@contextmanager
def object_store(work: Path) -> Iterator[ObjectStore]:
    root = work / f"seaweed-{secrets.token_hex(3)}"
    try:
        with running_seaweed(root) as store:
            yield store
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def custom_site(work: Path, backend: str, serve_args: list[str], extra_env: dict[str, str]) -> Iterator[Site]:
    """Like ``scenarios.site`` with extra server environment (S3, Redis, delivery mode)."""
    key = secrets.token_hex(32)
    with database(backend, work) as url:
        data_dir = work / f"data-{backend}-{secrets.token_hex(3)}"
        try:
            with running_mediagate(data_dir, url, serve_args, secret_key=key, extra_env=extra_env) as server:
                # This Runtime only creates the account and reads rows: local storage is fine for it.
                settings = Settings(
                    data_dir=data_dir,
                    database_url=url,
                    secret_key=key,
                    public_url=server.base_url,
                    allow_private_media_urls=True,
                )
                rt = build_runtime(settings, migrate=False)
                try:
                    created = accounts.create(rt, "bench")
                    yield Site(server, rt, created.account.sid, created.auth_token)
                finally:
                    rt.close()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def _ratios(res: dict[str, Any], sides: tuple[str, ...], ref: str = "nginx") -> None:
    for side in sides:
        res[f"ratio_rps_{side}"] = res[side]["rps"] / res[ref]["rps"]


def edge_from_s3(
    nginx: Nginx, s: Site, presign: Mediagate, cfg: Config, log: Callable[[str], None]
) -> dict[str, Any]:
    out: dict[str, Any] = {"connections": cfg.connections, "sizes": {}}
    log("  S3 shape: secured host streaming from SeaweedFS")
    for size in cfg.object_sizes:
        msg = s.send(f"{nginx.base_url}/files/obj-{size}.png")
        me = s.media_sids(msg)[0]
        location = s.signed_location(msg, me)
        ref_url = f"{nginx.base_url}/files/obj-{size}.png"
        got = httpx.get(location, timeout=30)
        assert got.status_code == 200 and got.content == httpx.get(ref_url, timeout=30).content
        # The store's own ceiling: SeaweedFS answering a presigned GET of the same object.
        direct = _presigned(presign, s, msg, me)
        assert httpx.get(direct, timeout=30).content == got.content
        log(f"   {size} bytes")
        res = alternate(
            cfg,
            {
                "mediagate": lambda location=location: wrk(
                    location, duration=cfg.duration, connections=cfg.connections
                ),
                "seaweedfs": lambda direct=direct: wrk(
                    direct, duration=cfg.duration, connections=cfg.connections
                ),
                "nginx": lambda ref_url=ref_url: wrk(
                    ref_url, duration=cfg.duration, connections=cfg.connections
                ),
            },
            log,
        )
        for side in ("mediagate", "seaweedfs", "nginx"):
            res[side]["mb_per_s"] = res[side]["rps"] * size / MB
        _ratios(res, ("mediagate", "seaweedfs"))
        out["sizes"][str(size)] = res
    return out


def _presigned(presign: Mediagate, s: Site, message_sid: str, media_sid: str) -> str:
    """The presign-mode server's 307 target for this media: a SigV4-presigned GET."""
    r = httpx.get(
        presign.base_url + s.content_path(message_sid, media_sid),
        headers={"Authorization": s.auth},
        timeout=30,
    )
    assert r.status_code == 307, (r.status_code, r.text[:300])
    location: str = r.headers["location"]
    endpoint = s.server.env["MEDIAGATE_S3_ENDPOINT_URL"]
    assert location.startswith(endpoint + "/") and "X-Amz-Signature=" in location, location
    return location


@contextmanager
def presign_server(s: Site, serve_args: list[str]) -> Iterator[Mediagate]:
    """A second server on the same database and bucket, with MEDIAGATE_DELIVERY=presign."""
    env = s.server.env
    with running_mediagate(
        Path(env["MEDIAGATE_DATA_DIR"]),
        env["MEDIAGATE_DATABASE_URL"],
        serve_args,
        secret_key=env["MEDIAGATE_SECRET_KEY"],
        extra_env={**{k: env[k] for k in S3_ENV}, "MEDIAGATE_DELIVERY": "presign"},
    ) as server:
        yield server


def presign_redirect(
    work: Path, nginx: Nginx, s: Site, presign: Mediagate, cfg: Config, log: Callable[[str], None]
) -> dict[str, Any]:
    log("  S3 shape: presign 307 (content URL -> SeaweedFS presigned GET)")
    size = cfg.object_sizes[0]
    msg = s.send(f"{nginx.base_url}/files/obj-{size}.png")
    me = s.media_sids(msg)[0]
    url = presign.base_url + s.content_path(msg, me)
    location = _presigned(presign, s, msg, me)
    assert (
        httpx.get(location, timeout=30).content
        == httpx.get(f"{nginx.base_url}/files/obj-{size}.png", timeout=30).content
    )
    with running_nginx(work, nginx.root, location) as ref:
        res = alternate(
            cfg,
            {
                "mediagate": lambda: wrk(
                    url,
                    duration=cfg.duration,
                    connections=cfg.connections,
                    headers={"Authorization": s.auth},
                ),
                "nginx": lambda: wrk(
                    ref.base_url + "/redirect", duration=cfg.duration, connections=cfg.connections
                ),
            },
            log,
        )
    res["connections"] = cfg.connections
    res["ratio_rps"] = res["mediagate"]["rps"] / res["nginx"]["rps"]
    return res


def run(
    work: Path, nginx: Nginx, cfg: Config, log: Callable[[str], None], *, with_proto: bool = True
) -> dict[str, Any]:
    """Every S3 shape on one SeaweedFS and one PostgreSQL-backed site."""
    from bench import s3_stream_app

    results: dict[str, Any] = {"backend": "postgresql", "serve_args": list(cfg.serve_args)}
    with object_store(work) as store:
        with custom_site(work, "postgresql", list(cfg.serve_args), store.env(prefix="bench")) as s:
            with presign_server(s, list(cfg.serve_args)) as presign:
                results["edge"] = edge_from_s3(nginx, s, presign, cfg, log)
                results["presign"] = presign_redirect(work, nginx, s, presign, cfg, log)
            log("  S3 shape: ingest to S3")
            results["ingest"] = ingest(work, nginx, s, cfg, log)
            results["ingest"]["backend"] = "postgresql + S3"
        if with_proto:
            results["clients"] = s3_stream_app.compare(work, nginx, store, cfg, log)
    return results
