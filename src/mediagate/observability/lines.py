"""The log line format, and the per-request lines (access and audit) written in batches.

Both log formats (text for a terminal, one JSON object per line for log
shippers) are defined here, once: ``render_line`` is what
``logging_setup.LineFormatter`` writes for every ``logging`` record, and the
``Shape`` templates below are the same format precompiled for the hot path.
``tests/observability/test_log_lines.py`` holds the two to the same bytes.

A record through ``logging`` costs tens of microseconds here (the redacting
record factory, the formatter, one write per line): two of them per request
were a third of the content redirect's time (bench/analysis.md). The access
and audit lines have a fixed shape and carry only values we built (route
templates, sids, decisions, addresses), so they need no redaction: the request
path appends a tuple, and a thread renders whole batches in the configured
format and writes each batch once, under the handler's lock so that lines
never interleave.

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
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

INTERVAL = 0.1  # seconds: the longest a line waits
GATHER = 0.01  # seconds between two writes
MAX_PENDING = 100_000

# Set by logging_setup.build_handler on the handler it makes: "json" or "text".
FORMAT_ATTRIBUTE = "_mediagate_format"

# The id of the request being served: set by the observability middleware for
# each request (its own task, so its own context; the threadpool copies it),
# read by every line written meanwhile.
REQUEST_ID: ContextVar[str | None] = ContextVar("mediagate_request_id", default=None)

# Text lines: "<timestamp> [<level>] <event> [<logger>] key=value ... request_id=...".
# The level is padded to the longest standard name ("critical", plus one), the
# event to 30 characters, so that the loggers and fields of a terminal log line up.
LEVEL_WIDTH = 9
EVENT_WIDTH = 30
# A text value is written bare unless one of these would make the line ambiguous
# to read or to split: then it is quoted (its repr).
_QUOTED = frozenset(" \t=\r\n\"'")


def text_value(value: object) -> str:
    if isinstance(value, str):
        return repr(value) if _QUOTED.intersection(value) else value
    return repr(value)


def render_line(
    fmt: str,
    when: float,
    level: str,
    logger: str,
    event: str,
    fields: Iterable[tuple[str, Any]],
    request_id: str | None = None,
    exception: str | None = None,
) -> str:
    """One log line (without its newline) in ``fmt`` ("json" or "text").

    JSON keys, in order: ``event``, the fields, ``request_id`` (when there is
    one), ``level``, ``logger``, ``timestamp``, ``exception`` (a traceback,
    when there is one). Text: the same, the traceback on the following lines."""
    if fmt == "json":
        record: dict[str, Any] = {"event": event, **dict(fields)}
        if request_id is not None:
            record["request_id"] = request_id
        record.update(level=level, logger=logger, timestamp=_timestamp(when))
        if exception:
            record["exception"] = exception
        # default=repr: a field of any type is written rather than failing the line.
        return json.dumps(record, default=repr)
    pairs = [f"{key}={text_value(value)}" for key, value in fields]
    if request_id is not None:
        pairs.append(f"request_id={text_value(request_id)}")
    line = f"{_timestamp(when)} [{level:<{LEVEL_WIDTH}}] {event:<{EVENT_WIDTH}} [{logger}]"
    if pairs:
        line += " " + " ".join(pairs)
    if exception:
        line += "\n" + exception
    return line


class Shape:
    """One kind of line: its logger, its event and its field names, with the
    text template made once, so that a line is a values tuple on the request
    path and a single %-format in the writer (no dict, no per-line lookup)."""

    __slots__ = (
        "event",
        "json_keys",
        "json_keys_without_id",
        "keys",
        "log",
        "logger",
        "text",
        "text_without_id",
    )

    def __init__(self, logger: str, event: str, keys: tuple[str, ...]) -> None:
        self.logger, self.event, self.keys = logger, event, keys
        self.log = logging.getLogger(logger)

        def lit(text: str) -> str:  # static "%" in the template are escaped
            return text.replace("%", "%%")

        # render_line's text, precompiled: the timestamp is "%s.%06dZ" (the
        # second's text, formatted once a second, and the microseconds) and each
        # value a bare "%s". The values are ours (sids, route templates, numbers,
        # addresses, decisions): none holds a character text_value would quote.
        pairs = "".join(f" {lit(k)}=%s" for k in keys)
        head = f"%s.%06dZ [{'info':<{LEVEL_WIDTH}}] {lit(f'{event:<{EVENT_WIDTH}}')} [{lit(logger)}]"
        self.text_without_id = head + pairs
        self.text = self.text_without_id + " request_id=%s"
        self.json_keys_without_id = ("event", *keys, "level", "logger", "timestamp")
        self.json_keys = ("event", *keys, "request_id", "level", "logger", "timestamp")


@functools.lru_cache(maxsize=256)
def shape(logger: str, event: str, keys: tuple[str, ...]) -> Shape:
    return Shape(logger, event, keys)


# What the writer holds per line: (time.time(), shape, request id, values).
Entry = tuple[float, Shape, str | None, tuple[Any, ...]]

# The last whole second formatted: (second, text), replaced as one tuple.
_second: list[tuple[int, str]] = [(-1, "")]


def _second_text(whole: int) -> str:
    cached_second, text = _second[0]
    if cached_second != whole:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second[0] = (whole, text)
    return text


def _timestamp(when: float) -> str:
    # ISO 8601 in UTC with microseconds ("2026-12-02T18:00:00.123456Z").
    whole = int(when)
    return "%s.%06dZ" % (_second_text(whole), int((when - whole) * 1e6))  # noqa: UP031 - the writer's form


def render_json(entry: Entry) -> str:
    # render_line's JSON keys, in its order: the event, the fields, the request
    # id, then level, logger and timestamp. One dict built from one zip.
    when, sh, request_id, values = entry
    if request_id is None:
        keys, row = sh.json_keys_without_id, (sh.event, *values, "info", sh.logger, _timestamp(when))
    else:
        keys, row = sh.json_keys, (sh.event, *values, request_id, "info", sh.logger, _timestamp(when))
    return json.dumps(dict(zip(keys, row, strict=True)))


def render_texts(entries: list[Entry]) -> list[str]:
    # The writer's loop: lines arrive in time order, thousands a second, so the
    # second's text is looked up only when it changes.
    out: list[str] = []
    append = out.append
    last, second = -1, ""
    for when, sh, request_id, values in entries:
        whole = int(when)
        if whole != last:
            last, second = whole, _second_text(whole)
        micros = int((when - whole) * 1e6)
        if request_id is None:
            append(sh.text_without_id % (second, micros, *values))
        else:
            append(sh.text % (second, micros, *values, request_id))
    return out


class LineBuffer:
    def __init__(self) -> None:
        self._pending: deque[Entry] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped = 0

    def emit_values(self, sh: Shape, request_id: str | None, values: tuple[Any, ...]) -> None:
        """One line of a known shape, its values in ``sh.keys`` order; never blocks."""
        if not sh.log.isEnabledFor(logging.INFO):
            return
        if _our_handler() is None:
            extra = dict(zip(sh.keys, values, strict=True))
            if request_id is not None:
                extra["request_id"] = request_id
            sh.log.info(sh.event, extra=extra)
            return
        pending = self._pending
        pending.append((time.time(), sh, request_id, values))
        if len(pending) > MAX_PENDING:
            with self._lock:
                while len(pending) > MAX_PENDING:
                    pending.popleft()
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
            for _, sh, rid, values in entries:
                sh.log.info(sh.event, extra={**dict(zip(sh.keys, values, strict=True)), "request_id": rid})
            return
        if dropped:
            note = shape("mediagate.serving", f"{dropped} log lines dropped (stderr blocked)", ())
            entries.append((time.time(), note, None, ()))
        if getattr(handler, FORMAT_ATTRIBUTE) == "json":
            lines = [render_json(e) for e in entries]
        else:
            lines = render_texts(entries)
        text = "\n".join(lines) + "\n"
        handler.acquire()
        try:
            stream = handler.stream
            stream.write(text)
            stream.flush()
        finally:
            handler.release()


_ROOT = logging.getLogger()
# The last handler found to be ours: an identity check per line, the type checks once.
_known: list[logging.StreamHandler[Any]] = []


def _our_handler() -> logging.StreamHandler[Any] | None:
    handlers = _ROOT.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if _known and _known[0] is handler:
        return _known[0]
    if not hasattr(handler, FORMAT_ATTRIBUTE) or not isinstance(handler, logging.StreamHandler):
        return None
    _known[:] = [handler]
    return handler


lines = LineBuffer()
atexit.register(lines.flush)
