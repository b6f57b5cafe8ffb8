"""The soak run of `make bench` (issue 9): minutes of mixed load, watching for leaks.

Two shapes, one after the other:

* **embedded**: the default ``mediagate serve`` (one granian process, SQLite,
  local files), as a first-hour user runs it;
* **production**: PostgreSQL + SeaweedFS S3 + Redis, ``--workers 2`` under
  granian (the shape ``docs/deploy.md`` describes, minus the balancer).

A few client threads loop until the deadline, each drawing its next operation
by weight: message create (one MediaUrl fetched from the local nginx, a
StatusCallback to a local receiver), media list, content redirect (307),
secured-host download (the 307's signed URL, bytes checked by length), message
delete. Every answer is checked; anything else is counted as an error by
operation and kind (status code or exception class). A sampler records the RSS
and open file descriptors of every server process every few seconds; at the
end the outbox and webhook backlog is read from the database, then again after
a short drain. The report prints start -> end for each process so that a leak
(steady growth after warm-up) or a respawned worker is visible at a glance.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from tests.support.receiver import Receiver, running_receiver

from bench.harness import Nginx, process_tree
from bench.s3_shapes import custom_site, object_store
from bench.scenarios import Config, Site

# Relative frequency of each operation in the mix.
WEIGHTS = {"create": 2, "list": 3, "redirect": 4, "download": 3, "delete": 1}
CALLBACK_PATH = "/status"
# A create refused by the per-account fetch limit (429 / 20429, MEDIAGATE_FETCH_CONCURRENCY_PER_ACCOUNT):
# the server's documented fairness answer, counted apart from errors but reported.
THROTTLED = "throttled"


@dataclass(frozen=True)
class SoakConfig:
    seconds: float  # load per shape
    clients: int  # client threads
    sample_every: float  # seconds between RSS/fd samples
    drain_seconds: float  # wait for the webhook/outbox backlog after the load
    shapes: tuple[str, ...] = ("embedded", "production")

    @staticmethod
    def for_bench(cfg: Config) -> SoakConfig:
        """BENCH_SOAK_SECONDS overrides the load time per shape (default 180 s; quick: 6 s)."""
        quick = cfg.label == "quick"
        seconds = float(os.environ.get("BENCH_SOAK_SECONDS") or (6 if quick else 180))
        shapes = tuple(x for x in os.environ.get("BENCH_SOAK_SHAPES", "").split(",") if x)
        return SoakConfig(
            seconds=seconds,
            clients=2 if quick else 6,
            sample_every=1.0 if quick else 5.0,
            drain_seconds=15.0 if quick else 30.0,
            **({"shapes": shapes} if shapes else {}),  # type: ignore[arg-type]
        )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Sampler:
    """RSS and fds of every process of the server's tree, every ``interval`` s (bounded)."""

    def __init__(self, root_pid: int, interval: float, max_samples: int = 10_000) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.max_samples = max_samples
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.monotonic()

    def take(self) -> dict[str, Any]:
        procs = {pid: {"rss": _rss(pid), "fds": _fds(pid)} for pid in process_tree(self.root_pid)}
        sample = {
            "t": round(time.monotonic() - self.t0, 2),
            "procs": {str(p): v for p, v in procs.items() if v["rss"]},
        }
        sample["rss"] = sum(v["rss"] for v in sample["procs"].values())
        sample["fds"] = sum(v["fds"] for v in sample["procs"].values())
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(self.interval) and len(self.samples) < self.max_samples:
            self.take()

    def __enter__(self) -> Sampler:
        self.take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.take()


class Load:
    """The client side: operations, their latencies and every error, by kind."""

    def __init__(self, s: Site, nginx: Nginx, receiver: Receiver, sizes: tuple[int, ...]) -> None:
        self.s = s
        self.nginx = nginx
        self.receiver = receiver
        self.sizes = sizes
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {op: [] for op in WEIGHTS}
        self.errors: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        # Live messages: (message sid, media sid, size); creates add, deletes take.
        self.live: list[tuple[str, str, int]] = []
        self.created = 0
        self.deleted = 0

    def _record(self, op: str, started: float, error: str | None) -> None:
        with self.lock:
            self.latency[op].append((time.monotonic() - started) * 1000)
            if error == THROTTLED:
                self.throttled[op] += 1
            elif error is not None:
                self.errors[f"{op}: {error}"] += 1

    def _pick(self, rng: random.Random, take: bool = False) -> tuple[str, str, int] | None:
        with self.lock:
            if not self.live:
                return None
            i = rng.randrange(len(self.live))
            return self.live.pop(i) if take else self.live[i]

    def create(self, http: httpx.Client, rng: random.Random) -> str | None:
        size = rng.choice(self.sizes)
        r = http.post(
            self.s.url(f"/2010-04-01/Accounts/{self.s.account_sid}/Messages.json"),
            data={
                "To": "+15551230001",
                "From": "+15557650001",
                "Body": "soak",
                "MediaUrl": f"{self.nginx.base_url}/files/obj-{size}.png",
                "StatusCallback": self.receiver.url(CALLBACK_PATH),
            },
        )
        if r.status_code == 429 and r.json().get("code") == 20429:
            return THROTTLED
        if r.status_code != 201:
            return f"HTTP {r.status_code}"
        body = r.json()
        # The create answers ``queued`` at once, as Twilio's does; the media are
        # fetched afterwards, and the status leaves ``queued`` when they are stored.
        deadline = time.monotonic() + 60
        while body["status"] == "queued" and time.monotonic() < deadline:
            time.sleep(0.02)
            body = http.get(self.s.url(body["uri"])).json()
        if body["status"] in ("queued", "failed"):
            return f"message {body['status']}"
        media = http.get(self.s.url(body["subresource_uris"]["media"]))
        if media.status_code != 200 or not media.json()["media_list"]:
            return f"media list after create HTTP {media.status_code}"
        with self.lock:
            self.live.append((body["sid"], media.json()["media_list"][0]["sid"], size))
            self.created += 1
        return None

    def list(self, http: httpx.Client, rng: random.Random) -> str | None:
        picked = self._pick(rng)
        if picked is None:
            r = http.get(self.s.url(f"/2010-04-01/Accounts/{self.s.account_sid}/Messages.json?PageSize=20"))
        else:
            r = http.get(
                self.s.url(f"/2010-04-01/Accounts/{self.s.account_sid}/Messages/{picked[0]}/Media.json")
            )
        # A message deleted by another client meanwhile answers 404: not an error of the server.
        if r.status_code == 404 and picked is not None and not self._alive(picked):
            return None
        return None if r.status_code == 200 else f"HTTP {r.status_code}"

    def _alive(self, picked: tuple[str, str, int]) -> bool:
        with self.lock:
            return picked in self.live

    def redirect(self, http: httpx.Client, rng: random.Random) -> str | None:
        picked = self._pick(rng)
        if picked is None:
            return None
        r = http.get(self.s.url(self.s.content_path(picked[0], picked[1])))
        if r.status_code == 404 and not self._alive(picked):
            return None
        return None if r.status_code == 307 else f"HTTP {r.status_code}"

    def download(self, http: httpx.Client, rng: random.Random) -> str | None:
        picked = self._pick(rng)
        if picked is None:
            return None
        r = http.get(self.s.url(self.s.content_path(picked[0], picked[1])))
        if r.status_code == 404 and not self._alive(picked):
            return None
        if r.status_code != 307:
            return f"redirect HTTP {r.status_code}"
        got = http.get(r.headers["location"])
        if got.status_code == 404 and not self._alive(picked):
            return None
        if got.status_code != 200:
            return f"HTTP {got.status_code}"
        return None if len(got.content) == picked[2] else "short body"

    def delete(self, http: httpx.Client, rng: random.Random) -> str | None:
        with self.lock:
            enough = len(self.live) > 20  # keep a pool for the reads
        if not enough:
            return None
        picked = self._pick(rng, take=True)
        if picked is None:
            return None
        r = http.delete(self.s.url(f"/2010-04-01/Accounts/{self.s.account_sid}/Messages/{picked[0]}.json"))
        if r.status_code != 204:
            return f"HTTP {r.status_code}"
        with self.lock:
            self.deleted += 1
        return None

    def client(self, seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        ops = list(WEIGHTS)
        weights = [WEIGHTS[o] for o in ops]
        handlers: dict[str, Callable[[httpx.Client, random.Random], str | None]] = {
            "create": self.create,
            "list": self.list,
            "redirect": self.redirect,
            "download": self.download,
            "delete": self.delete,
        }
        with httpx.Client(headers={"Authorization": self.s.auth}, timeout=30) as http:
            while time.monotonic() < deadline:
                op = "create" if not self.live else rng.choices(ops, weights)[0]
                started = time.monotonic()
                try:
                    error = handlers[op](http, rng)
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                self._record(op, started, error)


def _backlog(s: Site) -> dict[str, int]:
    with s.runtime.engine.connect() as conn:
        out = {
            "outbox": conn.execute(text("SELECT count(*) FROM outbox")).scalar_one(),
            "messages_queued": conn.execute(
                text("SELECT count(*) FROM messages WHERE status IN ('accepted', 'queued')")
            ).scalar_one(),
        }
        for status, n in conn.execute(
            text("SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
        ):
            out[f"webhooks_{status}"] = n
    out.setdefault("webhooks_pending", 0)
    out.setdefault("webhooks_failed", 0)
    out.setdefault("webhooks_delivered", 0)
    return out


def _processes(sampler: Sampler) -> list[dict[str, Any]]:
    first, last = sampler.samples[0]["procs"], sampler.samples[-1]["procs"]
    rows = []
    for pid in sorted({*first, *last}, key=int):
        a, b = first.get(pid), last.get(pid)
        rows.append(
            {
                "pid": int(pid),
                # The root is the `mediagate serve` process (granian's supervisor
                # when there are workers); a worker pid present only at one end was respawned.
                "role": "main" if int(pid) == sampler.root_pid else "worker",
                "rss_start": a["rss"] if a else None,
                "rss_end": b["rss"] if b else None,
                "fds_start": a["fds"] if a else None,
                "fds_end": b["fds"] if b else None,
            }
        )
    return rows


def run_shape(
    name: str, s: Site, nginx: Nginx, scfg: SoakConfig, sizes: tuple[int, ...], log: Callable[[str], None]
) -> dict[str, Any]:
    with running_receiver() as receiver:
        load = Load(s, nginx, receiver, sizes)
        # Warm-up: a few of each operation, so "start" is a server that has imported and pooled.
        with httpx.Client(headers={"Authorization": s.auth}, timeout=60) as http:
            rng = random.Random(0)
            for _ in range(5):
                assert load.create(http, rng) is None, "warm-up create failed"
            for op in ("list", "redirect", "download"):
                assert getattr(load, op)(http, rng) is None, f"warm-up {op} failed"
        load.latency = {op: [] for op in WEIGHTS}
        log(f"  soak {name}: {scfg.clients} clients for {scfg.seconds:.0f} s")
        started = time.monotonic()
        with Sampler(s.server.pid, scfg.sample_every) as sampler:
            deadline = time.monotonic() + scfg.seconds
            threads = [
                threading.Thread(target=load.client, args=(i, deadline), daemon=True)
                for i in range(scfg.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(scfg.seconds + 120)
            elapsed = time.monotonic() - started
        at_end = _backlog(s)
        drain_started = time.monotonic()
        drained = at_end
        while time.monotonic() - drain_started < scfg.drain_seconds:
            drained = _backlog(s)
            if not drained["outbox"] and not drained["webhooks_pending"] and not drained["messages_queued"]:
                break
            time.sleep(0.5)
        drain_s = time.monotonic() - drain_started
        callbacks = len(receiver.received(CALLBACK_PATH))
    ops: dict[str, Any] = {}
    for op, values in load.latency.items():
        errors = sum(n for k, n in load.errors.items() if k.startswith(op + ":"))
        ops[op] = {
            "count": len(values),
            "errors": errors,
            "throttled": load.throttled[op],
            "per_s": len(values) / elapsed,
            "p50_ms": _pct(values, 0.50),
            "p99_ms": _pct(values, 0.99),
        }
    samples = sampler.samples
    half = samples[len(samples) // 2]
    result = {
        "seconds": elapsed,
        "clients": scfg.clients,
        "server_args": s.server.args[6:],
        "ops": ops,
        "total_ops": sum(o["count"] for o in ops.values()),
        "throughput_ops_per_s": sum(o["count"] for o in ops.values()) / elapsed,
        "errors": dict(load.errors.most_common()),
        "error_count": sum(load.errors.values()),
        "throttled_count": sum(load.throttled.values()),
        "messages_created": load.created,
        "messages_deleted": load.deleted,
        "rss_start": samples[0]["rss"],
        "rss_end": samples[-1]["rss"],
        "rss_half": half["rss"],
        "fds_start": samples[0]["fds"],
        "fds_end": samples[-1]["fds"],
        "fds_half": half["fds"],
        "processes": _processes(sampler),
        "process_count_start": len(samples[0]["procs"]),
        "process_count_end": len(samples[-1]["procs"]),
        "series": [{"t": x["t"], "rss": x["rss"], "fds": x["fds"]} for x in samples],
        # Per process (pid -> RSS bytes) for the verdict on the last third (bench/report_extra.py).
        "series_procs": [{"t": x["t"], "rss": {p: v["rss"] for p, v in x["procs"].items()}} for x in samples],
        "backlog_at_end": at_end,
        "backlog_after_drain": drained,
        "drain_seconds": drain_s,
        "callbacks_received": callbacks,
    }
    log(
        f"   {result['total_ops']} ops ({result['throughput_ops_per_s']:.0f}/s), "
        f"{result['error_count']} errors, {result['throttled_count']} throttled, "
        f"RSS {samples[0]['rss'] / 2**20:.0f} -> "
        f"{samples[-1]['rss'] / 2**20:.0f} MB, fds {samples[0]['fds']} -> {samples[-1]['fds']}"
    )
    return result


def _probe_env(work: Path, name: str) -> dict[str, str]:
    """BENCH_SOAK_PROBE=SECONDS: the memory probe (bench/memprobe) in every server process."""
    every = os.environ.get("BENCH_SOAK_PROBE")
    if not every:
        return {}
    out = work / f"memprobe-{name}-{time.strftime('%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    probe = str(Path(__file__).with_name("memprobe"))
    path = os.pathsep.join(p for p in (probe, os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "MEMPROBE_EVERY": every, "MEMPROBE_DIR": str(out)}


@contextmanager
def _shape_site(work: Path, name: str, cfg: Config) -> Iterator[Site]:
    if name == "embedded":
        # The default server: no flags, SQLite, local files.
        with custom_site(work, "sqlite", [], _probe_env(work, name)) as s:
            yield s
        return
    with object_store(work) as store:
        env = {
            **store.env(prefix="soak"),
            "MEDIAGATE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "MEDIAGATE_REDIS_KEY_PREFIX": f"bench-soak-{secrets.token_hex(4)}",
            **_probe_env(work, name),
        }
        with custom_site(work, "postgresql", ["--workers", "2"], env) as s:
            yield s


def run(work: Path, nginx: Nginx, cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    scfg = SoakConfig.for_bench(cfg)
    out: dict[str, Any] = {"config": asdict(scfg), "weights": WEIGHTS, "shapes": {}}
    for name in scfg.shapes:
        with _shape_site(work, name, cfg) as s:
            out["shapes"][name] = run_shape(name, s, nginx, scfg, cfg.object_sizes, log)
    return out
