"""A real nginx (Debian nginx-light, ``/usr/sbin/nginx``) on loopback for the
tests: not a daemon, with its own prefix, config and logs in a temp folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

NGINX = Path("/usr/sbin/nginx")

# What every config here starts with; ``{work}`` is the temp folder.
PREAMBLE = """\
{user_line}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
"""
HTTP_TEMPS = """\
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
"""


def user_line() -> str:
    # As root, nginx workers would switch to `nobody`, who may not read pytest's tmp dirs.
    return "user root;" if os.geteuid() == 0 else ""


@contextmanager
def running_nginx(work: Path, conf: str, ready_url: str) -> Iterator[Path]:
    """Run nginx with ``conf`` (a complete config) until the block ends;
    ready once ``ready_url`` answers 200. Yields the error log's path."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "nginx.conf"
    path.write_text(conf)
    error_log = work / "error.log"
    proc = subprocess.Popen(
        [str(NGINX), "-p", str(work), "-c", str(path), "-e", str(error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, error_log.read_text() if error_log.exists() else "nginx exited"
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "nginx did not come up"
            time.sleep(0.05)
        yield error_log
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: master and workers
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
