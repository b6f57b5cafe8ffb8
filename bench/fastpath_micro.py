"""Where each microsecond of the fast content redirect goes, in-process.

``python -m bench.fastpath_micro [--out DIR]`` builds a runtime on a scratch
SQLite database (Redis for the invalidation channel, as the benchmark server
uses), stores one media, warms the memory with one full-path decision, then
times ``FastPaths.answer`` on a stand-in for granian's scope and protocol
objects, and each piece of it on its own. The server's own cost per request
(granian, the event loop, the kernel, wrk) is what scenario 1 adds on top.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import secrets
import shutil
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mediagate.accounts import accounts
from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.media import media
from mediagate.media.delivery import object_path
from mediagate.media.direct_delivery import set_direct
from mediagate.messaging import messages, number_pool
from mediagate.observability import metrics
from mediagate.observability.lines import lines, shape
from mediagate.observability.logging_setup import configure
from mediagate.observability.middleware import new_request_id
from mediagate.runtime.context import build_runtime
from mediagate.serving.fast import FastPaths

REDIS = "redis://127.0.0.1:6379/0"


class _Headers:
    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get_all(self, key: str) -> list[str]:
        return [self._values[key]] if key in self._values else []

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def items(self) -> list[tuple[str, str]]:
        return list(self._values.items())


class _Scope:
    proto = "http"
    method = "GET"
    scheme = "http"
    client = "127.0.0.1:40000"
    query_string = ""

    def __init__(self, path: str, headers: dict[str, str]) -> None:
        self.path = path
        self.headers = _Headers(headers)


class _Proto:
    answered = 0

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        assert status == 307
        self.answered += 1

    def response_file(self, status: int, headers: list[tuple[str, str]], file: str) -> None:
        assert status == 200
        self.answered += 1


def _per_call(fn: Callable[[], object], number: int = 20_000, repeat: int = 5) -> float:
    """Best of ``repeat`` runs, in microseconds per call (the least disturbed run)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def measure() -> list[tuple[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="mg-micro-"))
    try:
        settings = Settings(
            data_dir=tmp,
            database_url=f"sqlite:///{tmp}/db.sqlite",
            secret_key=secrets.token_hex(32),
            public_url="http://127.0.0.1:1",
            redis_url=REDIS,
            redis_key_prefix=f"micro-{secrets.token_hex(4)}",
            access_audit_queue_size=1_000_000,
        )
        rt = build_runtime(settings)
        try:
            return _measure(rt)
        finally:
            rt.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(rt: Any) -> list[tuple[str, float]]:
    app = create_app(rt)
    created = accounts.create(rt, "micro")
    sid = created.account.sid
    number_pool.assign(rt, "+15557650001", sid)
    new = messages.NewMessage("+15551230001", "+15557650001", "hi", [])
    message = messages.create(rt, sid, new, actor=sid)
    row = media.add(rt, sid, message.sid, "image/png", [b"\x89PNG\r\n\x1a\n" + b"x" * 1000])
    rt.signer.start()
    rt.direct_accounts.load(rt)
    rt.invalidation.start()
    if rt.coherence is not None:
        rt.coherence.start()  # as a server does: memory answers need its word (cluster/coherence.py)
    deadline = time.monotonic() + 10
    while not rt.invalidation.caching_allowed and time.monotonic() < deadline:
        time.sleep(0.05)
    header = "Basic " + base64.b64encode(f"{sid}:{created.auth_token}".encode()).decode()
    media.content_location(rt, sid, message.sid, row.sid, header)  # the full path, once: warms the memory
    fast = FastPaths(app)
    path = f"/2010-04-01/Accounts/{sid}/Messages/{message.sid}/Media/{row.sid}"
    scope, proto = _Scope(path, {"authorization": header, "host": "127.0.0.1"}), _Proto()
    if not fast.answer(scope, proto):
        raise RuntimeError("the fast path did not answer: memory not warm")
    signed = object_path(sid, row.sid)
    # The signed download the redirect points to, warmed the same way (one full lookup).
    rt.edge_objects.get(rt, sid, row.sid)
    edge = urlsplit(rt.settings.secure_media_url).path.rstrip("/")
    download = _Scope(f"{edge}{signed}", {"host": "127.0.0.1"})
    download.query_string = rt.signer.sign(signed)
    if not fast.answer(download, proto):
        raise RuntimeError("the fast path did not answer the signed download")
    # Direct delivery (the account's MediaDelivery Mode=direct): the same content
    # URL answering the file itself, warmed by one full decision.
    direct = accounts.create(rt, "micro-direct")
    dsid = direct.account.sid
    number_pool.assign(rt, "+15557650002", dsid)
    dnew = messages.NewMessage("+15551230001", "+15557650002", "hi", [])
    dmessage = messages.create(rt, dsid, dnew, actor=dsid)
    drow = media.add(rt, dsid, dmessage.sid, "image/png", [b"\x89PNG\r\n\x1a\n" + b"x" * 1000])
    set_direct(rt, dsid, True)
    rt.direct_accounts.load(rt)
    dheader = "Basic " + base64.b64encode(f"{dsid}:{direct.auth_token}".encode()).decode()
    media.content_location(rt, dsid, dmessage.sid, drow.sid, dheader)
    rt.edge_objects.get(rt, dsid, drow.sid)
    dpath = f"/2010-04-01/Accounts/{dsid}/Messages/{dmessage.sid}/Media/{drow.sid}"
    delivered = _Scope(dpath, {"authorization": dheader, "host": "127.0.0.1"})
    if not fast.answer(delivered, proto):
        raise RuntimeError("the fast path did not answer the direct delivery")
    counter = metrics.HTTP_REQUESTS.labels("micro", "GET", "307")
    line = shape("mediagate.micro", "media.content", ("account", "media", "credential", "decision"))
    histogram = metrics.HTTP_DURATION.labels("micro")

    def answer() -> None:
        rt.direct_accounts.load(rt)  # keep it fresh: a real server reloads it in the background
        assert fast.answer(scope, proto)

    def direct_delivery() -> None:
        rt.direct_accounts.load(rt)
        if not fast.answer(delivered, proto):
            # The memory's entries age out (60 s with Redis): a slow machine gets
            # there during the runs. Warm again, as the next full request would.
            media.content_location(rt, dsid, dmessage.sid, drow.sid, dheader)
            rt.edge_objects.get(rt, dsid, drow.sid)

    def reload_only() -> None:
        rt.direct_accounts.load(rt)

    rows = [
        ("whole fast redirect (FastPaths.answer)", _per_call(answer) - _per_call(reload_only)),
        ("whole fast signed download (FastPaths.answer)", _per_call(lambda: fast.answer(download, proto))),
        (
            "whole fast direct delivery (FastPaths.answer)",
            _per_call(direct_delivery) - _per_call(reload_only),
        ),
        (
            "decision from memory (content_location_from_memory)",
            _per_call(
                lambda: media.content_location_from_memory(
                    rt, sid, message.sid, row.sid, header, method="GET", client="127.0.0.1", request_id="r"
                )
            ),
        ),
        ("  signing the URL (Signer.sign)", _per_call(lambda: rt.signer.sign(signed))),
        ("  credential digest (keyed BLAKE2b)", _per_call(lambda: rt.hot.digest(header))),
        ("  one memory lookup (Memo.get)", _per_call(lambda: rt.hot.media.get(row.sid))),
        (
            "  durable audit enqueue",
            _per_call(
                lambda: rt.access_audit.record(
                    "api", sid, row.sid, "GET", ("auth_token", sid), True, "signed", "127.0.0.1"
                )
            ),
        ),
        ("  retention's access record", _per_call(lambda: rt.access.record(sid, row.sid, downloaded=False))),
        (
            "  one log line (batched)",
            _per_call(lambda: lines.emit_values(line, "r", (sid, row.sid, sid, "signed"))),
        ),
        ("metrics: counter inc", _per_call(counter.inc)),
        ("metrics: histogram observe", _per_call(lambda: histogram.observe(0.0001))),
        ("request id", _per_call(new_request_id)),
    ]
    rt.access_audit.take(10**7)  # what the timings queued: not for the database
    return rows


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, default=None, help="also write fastpath-micro.md here")
    args = p.parse_args()
    # The server's logging, written to nowhere: the log lines cost what they cost there.
    configure("INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the life of the process
    rows = measure()
    table = ["| step | µs per call |", "| --- | ---: |", *(f"| {name} | {us:.2f} |" for name, us in rows)]
    text = "\n".join(table) + "\n"
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fastpath-micro.md").write_text(
            "# The fast content redirect in-process (bench/fastpath_micro.py)\n\n" + text
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
