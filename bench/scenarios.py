"""The scenarios of `make bench` (the peers one in bench/peers.py), each returning plain JSON-able dicts.

Runs against nginx are the physical reference: the same machine, the same
wrk settings, alternating with mediagate round by round, so that drift
(thermal, noisy neighbours) hits both sides alike. Results are medians over
rounds and ratios of medians.
"""

from __future__ import annotations

import base64
import random
import secrets
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, insert, text

from bench.harness import (
    Mediagate,
    Nginx,
    RssSampler,
    WrkResult,
    process_tree,
    rss_bytes,
    running_front_nginx,
    running_mediagate,
    running_nginx,
    wrk,
)
from mediagate.accounts import accounts
from mediagate.core.settings import Settings
from mediagate.db.models import Media, Message
from mediagate.runtime.context import Runtime, build_runtime

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
KB = 1024
MB = 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Config:
    duration: float = 6.0  # seconds per wrk run
    rounds: int = 3  # alternating rounds per comparison
    connections: int = 32  # wrk connections for scenarios 1 and 2
    # The default `mediagate serve` (one process, granian on RSGI with the fast
    # paths): issue 12's targets are for this shape against an nginx with one
    # worker. `--serve-args "--workers 2"` measures granian's worker processes.
    serve_args: tuple[str, ...] = ()
    redirect_backends: tuple[str, ...] = ("sqlite", "postgresql")
    delivery_backend: str = "postgresql"
    object_sizes: tuple[int, ...] = (100 * KB, 1 * MB)
    ingest_sizes: tuple[int, ...] = (100 * KB, 1 * MB)
    ingest_connections: int = 4
    list_rows: tuple[int, int] = (10_000, 1_000_000)
    list_hot_media: int = 1000  # media of the "many" message
    list_backends: tuple[str, ...] = ("sqlite", "postgresql")
    list_duration: float = 4.0
    big_object: int = 100 * MB
    big_downloads: int = 4  # concurrent downloads of the big object
    warmup: int = 50  # content redirects + downloads before idle RSS is taken
    consistency_messages: int = 500  # invalidation messages timed (bench/consistency.py)
    # The peer comparison (bench/peers.py): Synapse started or not (bench-only, never
    # in the smoke test), and mediagate's database there (Synapse's is SQLite too).
    peer_synapse: bool = True
    peer_backend: str = "sqlite"
    peer_sizes: tuple[int, ...] = (100 * KB, 1 * MB)
    label: str = "full"

    @staticmethod
    def quick() -> Config:
        """Tiny sizes for the test suite's smoke run: exercises every code path in seconds."""
        return Config(
            serve_args=("--workers", "1"),
            duration=1.0,
            rounds=1,
            connections=4,
            redirect_backends=("sqlite",),
            delivery_backend="sqlite",
            object_sizes=(10 * KB, 100 * KB),
            ingest_sizes=(10 * KB,),
            ingest_connections=2,
            list_rows=(300, 3000),
            list_hot_media=120,
            list_backends=("sqlite",),
            list_duration=1.0,
            big_object=3 * MB,
            big_downloads=2,
            warmup=3,
            consistency_messages=50,
            peer_synapse=False,
            peer_sizes=(10 * KB,),  # one size: the smoke test covers the code path, not the sizes
            label="quick",
        )


def png_bytes(size: int) -> bytes:
    return PNG_MAGIC + bytes(max(0, size - len(PNG_MAGIC)))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    """A throwaway database: a file under bench/work, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        path = work / f"bench-{secrets.token_hex(4)}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        return
    name = f"mg_bench_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Site:
    """A running mediagate with one account, plus a Runtime on the same database."""

    server: Mediagate
    runtime: Runtime
    account_sid: str
    token: str
    auth: str = field(init=False)

    def __post_init__(self) -> None:
        self.auth = basic(self.account_sid, self.token)

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def send(self, media_url: str, *, to: str = "+15551230001", from_: str = "+15557650001") -> str:
        r = httpx.post(
            self.url(f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"),
            data={"To": to, "From": from_, "MediaUrl": media_url},
            headers={"Authorization": self.auth},
            timeout=120,
        )
        if r.status_code != 201:
            raise RuntimeError(f"message create failed: {r.status_code} {r.text[:500]}")
        sid: str = r.json()["sid"]
        self.settle(sid)
        return sid

    def settle(self, message_sid: str, timeout: float = 120.0) -> None:
        """Waits for the message's MediaUrl fetch: the create answers ``queued`` at once,
        as Twilio's does, and the media are fetched afterwards; the status leaves
        ``queued`` when they are stored (or the fetch failed)."""
        url = self.url(f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}.json")
        deadline = time.monotonic() + timeout
        while True:
            got = httpx.get(url, headers={"Authorization": self.auth}, timeout=30).json()
            if got["status"] == "failed":
                raise RuntimeError(f"media fetch failed: {got.get('error_code')} {got.get('error_message')}")
            if got["status"] != "queued":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"message {message_sid} still queued after {timeout} s")
            time.sleep(0.02)

    def media_sids(self, message_sid: str) -> list[str]:
        r = httpx.get(
            self.url(f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media.json"),
            headers={"Authorization": self.auth},
            timeout=30,
        )
        r.raise_for_status()
        return [m["sid"] for m in r.json()["media_list"]]

    def content_path(self, message_sid: str, media_sid: str) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"

    def api_key_auth(self) -> str:
        """The Authorization header of a new standard API key of this account."""
        r = httpx.post(
            self.url(f"/2010-04-01/Accounts/{self.account_sid}/Keys.json"),
            data={"FriendlyName": "bench"},
            headers={"Authorization": self.auth},
            timeout=30,
        )
        r.raise_for_status()
        return basic(r.json()["sid"], r.json()["secret"])

    def signed_location(self, message_sid: str, media_sid: str) -> str:
        r = httpx.get(
            self.url(self.content_path(message_sid, media_sid)),
            headers={"Authorization": self.auth},
            timeout=30,
        )
        if r.status_code != 307:
            raise RuntimeError(f"content URL answered {r.status_code}, not 307: {r.text[:300]}")
        return r.headers["location"]


def hot_request(s: Site, source_base_url: str, path: str, size: int) -> tuple[str, dict[str, str]]:
    """One stored media of ``size`` bytes and the hot request on it (the tools in
    bench/ that drive one path): ``redirect`` is the authenticated content URL,
    ``delivery`` the signed URL it redirects to. Returns (url, headers)."""
    msg = s.send(f"{source_base_url}/files/obj-{size}.png")
    me = s.media_sids(msg)[0]
    if path == "redirect":
        return s.url(s.content_path(msg, me)), {"Authorization": s.auth}
    return s.signed_location(msg, me), {}


@contextmanager
def site(work: Path, backend: str, cfg: Config) -> Iterator[Site]:
    key = secrets.token_hex(32)
    with database(backend, work) as url:
        data_dir = work / f"data-{backend}-{secrets.token_hex(3)}"
        try:
            with running_mediagate(data_dir, url, list(cfg.serve_args), secret_key=key) as server:
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


def nginx_root(work: Path, cfg: Config) -> Path:
    root = work / "nginx-root"
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    for size in {*cfg.object_sizes, *cfg.ingest_sizes, *cfg.peer_sizes}:
        path = files / f"obj-{size}.png"
        if not path.exists() or path.stat().st_size != size:
            path.write_bytes(png_bytes(size))
    doc = files / f"doc-{cfg.big_object}.pdf"
    if not doc.exists() or doc.stat().st_size != cfg.big_object:
        with doc.open("wb") as fh:
            fh.write(b"%PDF-1.4\n")
            left = cfg.big_object - 9
            while left > 0:
                n = min(left, MB)
                fh.write(bytes(n))
                left -= n
    return root


# --------------------------------------------------------------------------- helpers


def _summary(runs: list[WrkResult]) -> dict[str, Any]:
    out = {
        "rps": statistics.median(r.rps for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "requests": sum(r.requests for r in runs),
        "bad_responses": sum(r.non_2xx_3xx for r in runs),
        "socket_errors": sum(r.socket_errors for r in runs),
        "runs": [{k: v for k, v in asdict(r).items() if k != "raw"} for r in runs],
    }
    metered = [r for r in runs if r.server_cpu_s is not None and r.requests]
    if metered:  # runs through harness.metered: server CPU per request, the others' load
        out["cpu_us_per_request"] = statistics.median(
            (r.server_cpu_s or 0.0) / r.requests * 1e6 for r in metered
        )
        out["others_cores"] = statistics.median(r.others_cores or 0.0 for r in metered)
    return out


def alternate(
    cfg: Config, sides: dict[str, Callable[[], WrkResult]], log: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """Run each side once per round, swapping the order every round."""
    names = list(sides)
    results: dict[str, list[WrkResult]] = {n: [] for n in names}
    for rnd in range(cfg.rounds):
        order = names if rnd % 2 == 0 else list(reversed(names))
        for name in order:
            res = sides[name]()
            log(
                f"    round {rnd + 1} {name}: {res.rps:.0f} req/s"
                f" p50 {res.p50_ms:.2f} ms p99 {res.p99_ms:.2f} ms"
            )
            results[name].append(res)
    return {n: _summary(r) for n, r in results.items()}


# --------------------------------------------------------------------------- scenario 1


def redirect(
    work: Path, nginx: Nginx, s: Site, backend: str, cfg: Config, log: Callable[[str], None]
) -> dict[str, Any]:
    log(f"  scenario 1 (authenticated 307) on {backend}")
    msg = s.send(f"{nginx.base_url}/files/obj-{cfg.object_sizes[0]}.png")
    me = s.media_sids(msg)[0]
    location = s.signed_location(msg, me)
    url = s.url(s.content_path(msg, me))
    key_auth = s.api_key_auth()
    # One nginx worker: the reference is one process, like the default `mediagate serve`.
    with running_nginx(work, nginx.root, location, workers="1") as ref:
        check = httpx.get(ref.base_url + "/redirect", timeout=5)
        assert check.status_code == 307 and check.headers["location"] == location
        res = alternate(
            cfg,
            {
                "mediagate": lambda url=url, s=s: wrk(
                    url,
                    duration=cfg.duration,
                    connections=cfg.connections,
                    headers={"Authorization": s.auth},
                ),
                "mediagate_api_key": lambda url=url: wrk(
                    url,
                    duration=cfg.duration,
                    connections=cfg.connections,
                    headers={"Authorization": key_auth},
                ),
                "nginx": lambda ref=ref: wrk(
                    ref.base_url + "/redirect", duration=cfg.duration, connections=cfg.connections
                ),
            },
            log,
        )
    res["ratio_rps"] = res["mediagate"]["rps"] / res["nginx"]["rps"]
    res["ratio_rps_api_key"] = res["mediagate_api_key"]["rps"] / res["nginx"]["rps"]
    res["ratio_p50"] = res["mediagate"]["p50_ms"] / res["nginx"]["p50_ms"]
    res["ratio_p99"] = res["mediagate"]["p99_ms"] / res["nginx"]["p99_ms"]
    return res


# --------------------------------------------------------------------------- scenario 2


ACCEL_PREFIX = "/_protected"


def delivery(work: Path, nginx: Nginx, s: Site, cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    """Three sides per object size, alternating: mediagate sending the file itself
    ("mediagate", granian's pathsend), the production shape ("behind_nginx": a front
    nginx proxies to a second mediagate on the same database and data dir, started
    with MEDIAGATE_ACCEL_REDIRECT_PREFIX, which answers X-Accel-Redirect so that the
    front sends the file), and the reference nginx's plain sendfile of the same bytes."""
    out: dict[str, Any] = {
        "connections": cfg.connections,
        "backend": cfg.delivery_backend,
        "accel_prefix": ACCEL_PREFIX,
        "sizes": {},
    }
    log(f"  scenario 2 (signed-URL delivery) on {cfg.delivery_backend}")
    env = s.server.env
    data_dir = Path(env["MEDIAGATE_DATA_DIR"])
    with (
        running_mediagate(
            data_dir,
            env["MEDIAGATE_DATABASE_URL"],
            list(cfg.serve_args),
            secret_key=env["MEDIAGATE_SECRET_KEY"],
            extra_env={"MEDIAGATE_ACCEL_REDIRECT_PREFIX": ACCEL_PREFIX},
        ) as accel,
        running_front_nginx(
            work, accel.base_url.removeprefix("http://"), data_dir / "media", ACCEL_PREFIX
        ) as front,
    ):
        for size in cfg.object_sizes:
            msg = s.send(f"{nginx.base_url}/files/obj-{size}.png")
            me = s.media_sids(msg)[0]
            location = s.signed_location(msg, me)
            got = httpx.get(location, timeout=30)
            assert got.status_code == 200 and len(got.content) == size, (got.status_code, len(got.content))
            ref_url = f"{nginx.base_url}/files/obj-{size}.png"
            assert httpx.get(ref_url, timeout=30).content == got.content
            # The signature covers the path and query, not the host: the same signed
            # URL, sent to the front.
            signed = httpx.URL(location)
            behind_url = f"{front.base_url}{signed.raw_path.decode()}"
            behind = httpx.get(behind_url, timeout=30)
            assert behind.status_code == 200 and behind.content == got.content, behind.status_code
            assert behind.headers["server"].startswith("nginx") and "x-accel-redirect" not in behind.headers
            assert behind.headers["etag"] == got.headers["etag"]
            assert behind.headers["x-content-type-options"] == "nosniff"
            decided = httpx.get(f"{accel.base_url}{signed.raw_path.decode()}", timeout=30)
            assert decided.headers["x-accel-redirect"].startswith(ACCEL_PREFIX + "/"), decided.headers
            assert decided.content == b""
            log(f"   {size} bytes")
            res = alternate(
                cfg,
                {
                    "mediagate": lambda location=location: wrk(
                        location, duration=cfg.duration, connections=cfg.connections
                    ),
                    "behind_nginx": lambda behind_url=behind_url: wrk(
                        behind_url, duration=cfg.duration, connections=cfg.connections
                    ),
                    "nginx": lambda ref_url=ref_url: wrk(
                        ref_url, duration=cfg.duration, connections=cfg.connections
                    ),
                },
                log,
            )
            for side in ("mediagate", "behind_nginx", "nginx"):
                res[side]["mb_per_s"] = res[side]["rps"] * size / MB
            res["ratio_rps"] = res["mediagate"]["rps"] / res["nginx"]["rps"]
            res["ratio_rps_behind_nginx"] = res["behind_nginx"]["rps"] / res["nginx"]["rps"]
            out["sizes"][str(size)] = res
    return out


# --------------------------------------------------------------------------- scenario 3


def ingest(work: Path, nginx: Nginx, s: Site, cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "connections": cfg.ingest_connections,
        "backend": cfg.delivery_backend,
        "sizes": {},
    }
    log(f"  scenario 3 (ingest MediaUrl) on {cfg.delivery_backend}")
    for size in cfg.ingest_sizes:
        media_url = f"{nginx.base_url}/files/obj-{size}.png"
        s.send(media_url)  # warm and check
        body = httpx.QueryParams(
            {"To": "+15551230001", "From": "+15557650001", "MediaUrl": media_url}
        ).__str__()
        script = work / f"ingest-{size}.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f'wrk.body = "{body}"\n'
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        )
        url = s.url(f"/2010-04-01/Accounts/{s.account_sid}/Messages.json")
        log(f"   {size} bytes")
        res = alternate(
            cfg,
            {
                "mediagate": lambda url=url, script=script: wrk(
                    url,
                    duration=cfg.duration,
                    connections=cfg.ingest_connections,
                    headers={"Authorization": s.auth},
                    script=script,
                ),
                "nginx": lambda media_url=media_url: wrk(
                    media_url, duration=cfg.duration, connections=cfg.ingest_connections
                ),
            },
            log,
        )
        for side in ("mediagate", "nginx"):
            res[side]["mb_per_s"] = res[side]["rps"] * size / MB
        res["ratio_rps"] = res["mediagate"]["rps"] / res["nginx"]["rps"]
        stored = s.runtime.engine.connect()
        try:
            failed = stored.execute(
                text("SELECT count(*) FROM messages WHERE status = 'failed'")
            ).scalar_one()
        finally:
            stored.close()
        res["failed_messages"] = failed
        out["sizes"][str(size)] = res
    return out


# --------------------------------------------------------------------------- scenario 4


def _rand_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _token(when: datetime, sid: str) -> str:
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"PA{micros}_{sid}"


class _Filler:
    """Bulk rows for scenario 4, straight through SQLAlchemy Core in batches."""

    def __init__(self, url: str, account_sid: str, seed: int = 7) -> None:
        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.account_sid = account_sid
        self.rng = random.Random(seed)
        self.base = datetime(2026, 1, 1, tzinfo=UTC)
        self.span_us = 30 * 86400 * 1_000_000

    def when(self) -> datetime:
        return self.base + timedelta(microseconds=self.rng.randrange(self.span_us))

    def media_row(self, message_sid: str) -> dict[str, Any]:
        sid = _rand_sid("ME")
        when = self.when()
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "message_sid": message_sid,
            "content_type": "image/jpeg",
            "size": 12345,
            "sha256": "0" * 64,
            "filename": None,
            "storage_key": f"{self.account_sid}/{sid}",
            "auth_required": True,
            "date_created": when,
            "date_updated": when,
        }

    def message_row(self) -> dict[str, Any]:
        when = self.when()
        return {
            "sid": _rand_sid("MM"),
            "account_sid": self.account_sid,
            "to": "+15551230001",
            "from": "+15557650001",
            "body": "",
            "status": "sent",
            "direction": "outbound-api",
            "num_media": 10,
            "num_segments": 1,
            "date_created": when,
            "date_updated": when,
        }

    def message_with(self, n_media: int) -> tuple[str, list[dict[str, Any]]]:
        msg = self.message_row()
        msg["num_media"] = n_media
        rows = [self.media_row(msg["sid"]) for _ in range(n_media)]
        with self.engine.begin() as conn:
            conn.execute(insert(Message.__table__), [msg])
            for i in range(0, len(rows), 5000):
                conn.execute(insert(Media.__table__), rows[i : i + 5000])
        return msg["sid"], rows

    def fill(self, n_media: int, per_message: int = 10, batch: int = 20_000) -> None:
        """Add ``n_media`` rows on filler messages of ``per_message`` media each (bounded by n_media)."""
        left = n_media
        while left > 0:
            take = min(batch, left)
            messages: list[dict[str, Any]] = []
            media: list[dict[str, Any]] = []
            while len(media) < take:
                msg = self.message_row()
                messages.append(msg)
                media.extend(self.media_row(msg["sid"]) for _ in range(min(per_message, take - len(media))))
            with self.engine.begin() as conn:
                conn.execute(insert(Message.__table__), messages)
                conn.execute(insert(Media.__table__), media)
            left -= take

    def count(self) -> int:
        with self.engine.connect() as conn:
            n: int = conn.execute(text("SELECT count(*) FROM media")).scalar_one()
            return n

    def analyze(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    def close(self) -> None:
        self.engine.dispose()


def media_list(work: Path, s: Site, backend: str, cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    small, large = cfg.list_rows
    log(f"  scenario 4 (media list) on {backend}")
    filler = _Filler(s.runtime.settings.database_url, s.account_sid)
    try:
        hot_sid, hot_rows = filler.message_with(cfg.list_hot_media)
        few_sid, _ = filler.message_with(3)
        hot_rows.sort(key=lambda r: (r["date_created"], r["sid"]), reverse=True)
        middle = hot_rows[len(hot_rows) // 2]
        deep_token = _token(middle["date_created"], middle["sid"])
        prefix = f"/2010-04-01/Accounts/{s.account_sid}/Messages"
        queries = {
            "many_first_page": f"{prefix}/{hot_sid}/Media.json?PageSize=50",
            "many_deep_page": f"{prefix}/{hot_sid}/Media.json?PageSize=50&Page=10&PageToken={deep_token}",
            "few_first_page": f"{prefix}/{few_sid}/Media.json?PageSize=50",
        }
        for path in queries.values():
            r = httpx.get(s.url(path), headers={"Authorization": s.auth}, timeout=30)
            assert r.status_code == 200 and r.json()["media_list"], r.text[:300]
        stages: dict[str, Any] = {}
        for target in (small, large):
            started = time.monotonic()
            filler.fill(target - filler.count())
            filler.analyze()
            fill_s = time.monotonic() - started
            log(f"   {filler.count()} media rows (filled in {fill_s:.0f} s)")
            stage: dict[str, Any] = {"fill_seconds": fill_s}
            for name, path in queries.items():
                runs = [
                    wrk(
                        s.url(path),
                        duration=cfg.list_duration,
                        connections=1,
                        headers={"Authorization": s.auth},
                    )
                    for _ in range(cfg.rounds)
                ]
                stage[name] = _summary(runs)
                log(f"    {name}: p50 {stage[name]['p50_ms']:.2f} ms p99 {stage[name]['p99_ms']:.2f} ms")
            stages[str(target)] = stage
        res: dict[str, Any] = {"stages": stages}
        res["ratio_p50"] = {
            name: stages[str(large)][name]["p50_ms"] / stages[str(small)][name]["p50_ms"] for name in queries
        }
    finally:
        filler.close()
    return res


# --------------------------------------------------------------------------- scenario 5


def memory(work: Path, nginx: Nginx, s: Site, cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    """Runs first on a fresh server, so that idle is idle (after a short warm-up)."""
    log(f"  scenario 5 (RSS with a {cfg.big_object} byte object) on {cfg.delivery_backend}")
    out: dict[str, Any] = {"object_bytes": cfg.big_object, "backend": cfg.delivery_backend}
    # Warm up: the hot paths once each, so that idle includes imported code and pools.
    small = s.send(f"{nginx.base_url}/files/obj-{cfg.object_sizes[0]}.png")
    me = s.media_sids(small)[0]
    for _ in range(cfg.warmup):
        httpx.get(s.signed_location(small, me), timeout=30)
    time.sleep(0.5)
    pids = process_tree(s.server.pid)
    idle = rss_bytes(pids)
    out["processes"] = len(pids)
    out["idle_bytes"] = idle
    with RssSampler(s.server.pid) as ingest_rss:
        msg = s.send(
            f"{nginx.base_url}/files/doc-{cfg.big_object}.pdf",
            to="whatsapp:+15551230001",
            from_="whatsapp:+15557650001",
        )
    out["ingest_peak_bytes"] = ingest_rss.peak
    me = s.media_sids(msg)[0]
    location = s.signed_location(msg, me)
    with RssSampler(s.server.pid) as serve_rss:
        procs = [
            subprocess.Popen(
                ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", location],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(cfg.big_downloads)
        ]
        results = [p.communicate(timeout=300)[0] for p in procs]
    out["downloads"] = results
    expected = f"200 {cfg.big_object}"
    if any(r.strip() != expected for r in results):
        raise RuntimeError(f"big download failed: {results}")
    out["serve_peak_bytes"] = serve_rss.peak
    out["ingest_growth_bytes"] = ingest_rss.peak - idle
    out["serve_growth_bytes"] = serve_rss.peak - idle
    return out


SCENARIOS = ("redirect", "delivery", "ingest", "memory", "peers", "media_list", "consistency")


def run_all(
    work: Path, cfg: Config, log: Callable[[str], None], only: tuple[str, ...] = SCENARIOS
) -> dict[str, Any]:
    root = nginx_root(work, cfg)
    results: dict[str, Any] = {"config": asdict(cfg)}
    started = time.monotonic()
    backends = list(
        dict.fromkeys([cfg.delivery_backend, *cfg.redirect_backends, cfg.peer_backend, *cfg.list_backends])
    )
    # One worker (issue 12): the reference for delivery and ingest is one nginx process.
    with running_nginx(work, root, "http://127.0.0.1/unused", workers="1") as nginx:
        for backend in backends:
            main = backend == cfg.delivery_backend
            wanted = set(only) & (
                ({"memory", "delivery", "ingest"} if main else set())
                | ({"redirect"} if backend in cfg.redirect_backends else set())
                | ({"media_list"} if backend in cfg.list_backends else set())
                | ({"peers"} if backend == cfg.peer_backend else set())
            )
            if not wanted:
                continue
            # One server per backend; memory goes first, on the fresh server, and the
            # media list last (its bulk rows would otherwise sit under the other scenarios).
            with site(work, backend, cfg) as s:
                if "memory" in wanted:
                    results["memory"] = memory(work, nginx, s, cfg, log)
                if "redirect" in wanted:
                    results.setdefault("redirect", {"connections": cfg.connections, "backends": {}})
                    results["redirect"]["backends"][backend] = redirect(work, nginx, s, backend, cfg, log)
                if "delivery" in wanted:
                    results["delivery"] = delivery(work, nginx, s, cfg, log)
                if "ingest" in wanted:
                    results["ingest"] = ingest(work, nginx, s, cfg, log)
                if "peers" in wanted:
                    # Synapse and nginx beside the authenticated downloads (bench/peers.py).
                    from bench import peers

                    results["peers"] = peers.run(work, nginx, s, cfg, log)
                if "media_list" in wanted:
                    small, large = cfg.list_rows
                    results.setdefault(
                        "media_list",
                        {"rows": [small, large], "hot_media": cfg.list_hot_media, "backends": {}},
                    )
                    results["media_list"]["backends"][backend] = media_list(work, s, backend, cfg, log)
    if "consistency" in only:
        # No server needed: the invalidation channel itself, process to process (bench/consistency.py).
        from bench import consistency

        log("consistency: invalidation publish -> other process, over Redis")
        results["consistency"] = consistency.measure(messages=cfg.consistency_messages)
        log(f"  {results['consistency']}")
    results["elapsed_seconds"] = time.monotonic() - started
    return results
