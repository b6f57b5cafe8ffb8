"""The per-request log lines (access and audit), written in batches.

A record through ``logging`` costs tens of microseconds here (the redacting
record factory, structlog's processor chain, the renderer, one write per
line): two of them per request were a third of the content redirect's time
(bench/analysis.md). These lines have a fixed shape and carry only values we
built (route templates, sids, decisions, addresses), so they need neither
redaction nor a processor chain: the request path appends a tuple, and a
thread renders whole batches in the configured format and writes each batch
once, under the handler's lock so that lines never interleave.

When the root handler is not the one ``logging_setup`` built (a test's
capture handler, an embedding application's own), each line is an ordinary
``logging`` record instead, at once.

The first line after a quiet spell wakes the writer at once; after each write
it gathers for ``GATHER`` seconds, so a busy server writes at most a hundred
batches a second and an idle one shows its lines within milliseconds. Lines
are written at most ``INTERVAL`` seconds after their request, at shutdown
(``flush``, also at exit), and never more than ``MAX_PENDING`` wait:
beyond that (stderr blocked for a long time) the oldest are dropped and the
next written line says how many.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

INTERVAL = 0.1  # seconds: the longest a line waits
GATHER = 0.01  # seconds between two writes
MAX_PENDING = 100_000

# Set by logging_setup.build_handler on the handler it makes: "json" or "text".
FORMAT_ATTRIBUTE = "_mediagate_format"

_Entry = tuple[float, str, str, str | None, dict[str, Any]]


# The last whole second formatted: (second, text), replaced as one tuple.
_second: list[tuple[int, str]] = [(-1, "")]


def _timestamp(when: float) -> str:
    # structlog's ISO form ("2026-12-02T18:00:00.123456Z"), the date and time
    # formatted once per second: lines arrive in time order, thousands a second.
    whole = int(when)
    cached_second, text = _second[0]
    if cached_second != whole:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second[0] = (whole, text)
    return f"{text}.{int((when - whole) * 1e6):06d}Z"


def render_json(entry: _Entry) -> str:
    when, logger, event, request_id, fields = entry
    record: dict[str, Any] = {"event": event, **fields}
    if request_id is not None:
        record["request_id"] = request_id
    record["level"] = "info"
    record["logger"] = logger
    record["timestamp"] = _timestamp(when)
    return json.dumps(record)


@functools.lru_cache(maxsize=256)
def _text_template(logger: str, event: str, keys: tuple[str, ...], with_id: bool) -> str:
    # The static part of a line once per shape (every access line has the same
    # keys), so rendering one is a single %-format. Static "%" are escaped.
    def lit(text: str) -> str:
        return text.replace("%", "%%")

    pairs = " ".join(f"{lit(k)}=%s" for k in keys)
    rid = " request_id=%s" if with_id else ""
    return f"%s [info     ] {lit(f'{event:<30}')} [{lit(logger)}] {pairs}{rid}"


def render_text(entry: _Entry) -> str:
    # The shape of structlog's ConsoleRenderer without colours, which the
    # other lines of a terminal log have.
    when, logger, event, request_id, fields = entry
    template = _text_template(logger, event, tuple(fields), request_id is not None)
    values = (_timestamp(when), *fields.values())
    return template % ((*values, request_id) if request_id is not None else values)


class LineBuffer:
    def __init__(self) -> None:
        self._pending: deque[_Entry] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._loggers: dict[str, logging.Logger] = {}

    def emit(self, logger: str, event: str, request_id: str | None, fields: dict[str, Any]) -> None:
        log = self._loggers.get(logger)
        if log is None:
            log = self._loggers[logger] = logging.getLogger(logger)
        if not log.isEnabledFor(logging.INFO):
            return
        handler = _our_handler()
        if handler is None:
            extra = dict(fields)
            if request_id is not None:
                extra["request_id"] = request_id
            log.info(event, extra=extra)
            return
        self._pending.append((time.time(), logger, event, request_id, fields))
        if len(self._pending) > MAX_PENDING:
            with self._lock:
                while len(self._pending) > MAX_PENDING:
                    self._pending.popleft()
                    self._dropped += 1
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="log-lines", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(INTERVAL)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the writer die: the next pass tries again
                logging.getLogger("mediagate.serving").exception("writing log lines failed")
            time.sleep(GATHER)

    def flush(self) -> None:
        """Write everything pending now (the writer thread, shutdown, exit)."""
        with self._lock:
            if not self._pending and not self._dropped:
                return
            entries = list(self._pending)
            self._pending.clear()
            dropped, self._dropped = self._dropped, 0
        handler = _our_handler()
        if handler is None:
            for _, logger, event, rid, fields in entries:
                logging.getLogger(logger).info(event, extra={**fields, "request_id": rid})
            return
        render = render_json if getattr(handler, FORMAT_ATTRIBUTE) == "json" else render_text
        lines = [render(e) for e in entries]
        if dropped:
            lines.append(
                render(
                    (
                        time.time(),
                        "mediagate.serving",
                        f"{dropped} log lines dropped (stderr blocked)",
                        None,
                        {},
                    )
                )
            )
        text = "\n".join(lines) + "\n"
        handler.acquire()
        try:
            stream = handler.stream
            stream.write(text)
            stream.flush()
        finally:
            handler.release()


_ROOT = logging.getLogger()
_known: list[logging.Handler] = []  # the last handler found to be ours (identity check per line)


def _our_handler() -> logging.StreamHandler[Any] | None:
    handlers = _ROOT.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if not _known or _known[0] is not handler:
        if not hasattr(handler, FORMAT_ATTRIBUTE):
            return None
        _known[:] = [handler]
    assert isinstance(handler, logging.StreamHandler)
    return handler


lines = LineBuffer()
atexit.register(lines.flush)
