"""Processes the benchmark drives: mediagate, nginx, wrk, and an RSS sampler.

Everything listens on 127.0.0.1 only, every child is started by us and
stopped by us (by its own pid), and every loop is bounded in count and time.
"""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
MEDIAGATE = Path(sys.executable).parent / "mediagate"
TEMPLATE = Path(__file__).with_name("nginx.conf.tmpl")
FRONT_TEMPLATE = Path(__file__).with_name("nginx-front.conf.tmpl")


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tools_missing() -> list[str]:
    """The external programs the harness needs that are not installed."""
    return [name for name in ("nginx", "wrk") if find_tool(name) is None]


def find_tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited early:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{url} did not come up:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --------------------------------------------------------------------------- nginx


@dataclass
class Nginx:
    base_url: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def running_nginx(work: Path, root: Path, redirect_location: str, workers: str = "auto") -> Iterator[Nginx]:
    """The physical reference: static 307 and plain ``sendfile`` of files under ``root``."""
    with _nginx(
        work, TEMPLATE, "/redirect", root, workers=workers, root=root,
        location=redirect_location.replace('"', "%22"),
    ) as nginx:  # fmt: skip
        yield nginx


@contextmanager
def running_front_nginx(
    work: Path, upstream: str, media_dir: Path, prefix: str, workers: str = "auto"
) -> Iterator[Nginx]:
    """nginx in front of a mediagate started with MEDIAGATE_ACCEL_REDIRECT_PREFIX=``prefix``:
    proxies everything to ``upstream`` (host:port) and sends files from ``media_dir``."""
    with _nginx(
        work, FRONT_TEMPLATE, "/healthz", media_dir, workers=workers, upstream=upstream,
        media=media_dir.resolve(), prefix=prefix,
    ) as nginx:  # fmt: skip
        yield nginx


@contextmanager
def _nginx(work: Path, template: Path, probe: str, served: Path, **values: object) -> Iterator[Nginx]:
    binary = find_tool("nginx")
    if binary is None:
        raise BenchError("nginx is not installed (make bench-deps)")
    port = free_port()
    ndir = work / f"nginx-{port}"
    (ndir / "nginx-tmp").mkdir(parents=True, exist_ok=True)
    user_line = ""
    if os.geteuid() == 0:
        # As root, nginx workers would switch to `nobody`, who may not read bench/work.
        import pwd

        user_line = f"user {pwd.getpwuid(0).pw_name};"
    conf = string.Template(template.read_text()).substitute(
        user_line=user_line, work=ndir, port=port, **values
    )
    conf_path = ndir / "nginx.conf"
    conf_path.write_text(conf)
    log = ndir / "nginx-stdout.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-p", str(ndir), "-c", str(conf_path), "-e", str(ndir / "nginx-error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}{probe}", proc, log)
        yield Nginx(f"http://127.0.0.1:{port}", served, proc)
    except BaseException:
        raise  # keep bench/work/nginx-PORT (config, error log) for a failed run
    else:
        _stop(proc, signal.SIGQUIT)
        shutil.rmtree(ndir, ignore_errors=True)
    finally:
        _stop(proc, signal.SIGQUIT)  # graceful shutdown of master and workers


# --------------------------------------------------------------------------- mediagate


@dataclass
class Mediagate:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def running_mediagate(
    data_dir: Path,
    database_url: str,
    serve_args: list[str],
    secret_key: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Mediagate]:
    """``mediagate serve`` as in production (log level info, the access log on as by default), on 127.0.0.1.

    MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS is on only because the ingest scenario's
    file server is on loopback; it does not change any hot path."""
    port = free_port()
    env = {
        **os.environ,
        "MEDIAGATE_DATA_DIR": str(data_dir),
        "MEDIAGATE_DATABASE_URL": database_url,
        "MEDIAGATE_SECRET_KEY": secret_key or secrets.token_hex(32),
        "MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS": "true",
        "MEDIAGATE_LOG_LEVEL": "info",
        # Several workers, or a second server on one database, refuse to start
        # without Redis (their limits would not be shared): the machine's Redis.
        "MEDIAGATE_REDIS_URL": os.environ.get("MEDIAGATE_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "MEDIAGATE_REDIS_KEY_PREFIX": f"bench-{secrets.token_hex(4)}",
        **(extra_env or {}),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    # Per port: scenario 2 runs a second server on the same data dir.
    log_path = data_dir / f"server-{port}.log"
    args = [str(MEDIAGATE), "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: with the 2 cores shared by several engineers a start (migrations,
        # Redis, the first workers) took over 60 s at load average 18.
        _wait_http(base + "/healthz", proc, log_path, timeout=150)
        # All workers up: a few requests in a row succeed.
        for _ in range(20):
            httpx.get(base + "/healthz", timeout=5)
        yield Mediagate(base, env, proc, log_path, args)
    finally:
        _stop(proc)


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int
    transfer_bytes_per_s: float
    raw: str = field(repr=False, default="")
    # Filled in by ``metered``: the server's CPU seconds (all its processes and
    # threads) during the run, wrk's own, and the cores everything else on the
    # machine used meanwhile (the other engineers' load).
    server_cpu_s: float | None = None
    wrk_cpu_s: float | None = None
    others_cores: float | None = None


_UNITS_T = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_UNITS_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if m is None:
        raise BenchError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _UNITS_T[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, out, re.MULTILINE)

    rps = find(r"^Requests/sec:\s+([\d.]+)")
    p50 = find(r"^\s+50%\s+(\S+)")
    p99 = find(r"^\s+99%\s+(\S+)")
    total = find(r"^\s+(\d+) requests in")
    transfer = find(r"^Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)")
    if not (rps and p50 and p99 and total and transfer):
        raise BenchError("unexpected wrk output:\n" + out)
    non = find(r"Non-2xx or 3xx responses:\s+(\d+)")
    sock = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx_3xx=int(non.group(1)) if non else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        transfer_bytes_per_s=float(transfer.group(1)) * _UNITS_B[transfer.group(2)],
        raw=out,
    )


def wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> WrkResult:
    """One wrk run on one thread (wrk gets one of the two cores)."""
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"refusing to load anything but loopback: {url}")
    binary = find_tool("wrk")
    if binary is None:
        raise BenchError("wrk is not installed (make bench-deps)")
    secs = max(1, round(duration))
    args = [binary, "-t1", f"-c{connections}", f"-d{secs}s", "--latency", "--timeout", "10s"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    if script is not None:
        args += ["-s", str(script)]
    args.append(url)
    done = subprocess.run(args, capture_output=True, text=True, timeout=secs + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


# --------------------------------------------------------------------------- CPU

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the given processes, all their threads included
    (``/proc/<pid>/stat`` utime and stime), in seconds. A process gone counts 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every core, ``/proc/stat``'s cpu line
    less idle and iowait) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(values[:8]) - values[3] - values[4]  # user nice system idle iowait irq softirq steal
    return busy / _TICK


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def metered(pids: list[int], run: Callable[[], WrkResult]) -> WrkResult:
    """``run()`` (one wrk run) with the CPU time the server's processes spent meanwhile,
    wrk's own (a waited child's rusage) and the cores every other process used."""
    server0, wrk0, busy0, t0 = cpu_seconds(pids), _children_cpu(), machine_busy_seconds(), time.monotonic()
    res = run()
    server = cpu_seconds(pids) - server0
    own = _children_cpu() - wrk0
    others = max(0.0, machine_busy_seconds() - busy0 - server - own) / (time.monotonic() - t0)
    return dataclasses.replace(res, server_cpu_s=server, wrk_cpu_s=own, others_cores=others)


# --------------------------------------------------------------------------- RSS


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def process_tree(pid: int) -> list[int]:
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < 256:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


def rss_bytes(pids: list[int]) -> int:
    """Resident set size of the given processes together (VmRSS, bytes)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class RssSampler:
    """Samples a process tree's total RSS every ``interval`` s (bounded in count) and keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02, max_samples: int = 100_000) -> None:
        self.pids = process_tree(pid)
        self.interval = interval
        self.max_samples = max_samples
        self.peak = rss_bytes(self.pids)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and self.samples < self.max_samples:
            self.peak = max(self.peak, rss_bytes(self.pids))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss_bytes(self.pids))
