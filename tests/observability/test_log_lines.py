"""The batched per-request log lines (mediagate/observability/lines.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mediagate.observability import lines as lines_module
from mediagate.observability.lines import (
    REQUEST_ID,
    LineBuffer,
    Shape,
    render_json,
    render_line,
    render_texts,
    shape,
)
from mediagate.observability.logging_setup import build_handler

FIELDS = {"method": "GET", "route": "/x/{a}", "status": 307, "duration_ms": 0.25, "bytes": 0, "client": "::1"}
LOGGER_EVENT = ("mediagate.access", "request")
ACCESS = shape(*LOGGER_EVENT, tuple(FIELDS))
VALUES = tuple(FIELDS.values())


def render_text(when: float, sh: Shape, rid: str | None, values: tuple[object, ...]) -> str:
    [line] = render_texts([(when, sh, rid, values)])
    return line


@contextmanager
def only_ours() -> Iterator[io.StringIO]:
    """The root logger with only the one handler logging_setup builds, writing to a
    buffer. Entered inside the test body: pytest adds its capture handler to the
    root logger for the call phase, after fixtures have run."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    out = io.StringIO()
    handler = build_handler("json")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_json_line_has_the_documented_fields() -> None:
    record = json.loads(render_json((1796247108.25, ACCESS, "rid-1", VALUES)))
    assert record == {
        **FIELDS,
        "event": "request",
        "request_id": "rid-1",
        "level": "info",
        "logger": "mediagate.access",
        "timestamp": "2026-12-02T21:31:48.250000Z",
    }


def record_line(fmt: str, when: float, rid: str | None, bound: bool) -> str:
    """The access line written as an ordinary ``logging`` record through the
    handler ``build_handler`` makes: the request id given explicitly (the
    batched lines' fallback) or bound to the request's context (a service's line)."""
    out = io.StringIO()
    handler = build_handler(fmt)
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    logger = logging.getLogger("mediagate.access")
    saved = logger.handlers, logger.propagate
    logger.handlers, logger.propagate = [handler], False
    extra: dict[str, object] = dict(FIELDS)
    token = REQUEST_ID.set(rid if bound else None)
    if rid is not None and not bound:
        extra["request_id"] = rid
    try:
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "request", (), None, extra=extra)
        record.created = when
        handler.handle(record)
    finally:
        REQUEST_ID.reset(token)
        logger.handlers, logger.propagate = saved
    return out.getvalue().removesuffix("\n")


@pytest.mark.parametrize("rid", ["rid-1", None])
@pytest.mark.parametrize("bound", [False, True])
def test_batched_lines_and_records_are_written_alike(rid: str | None, bound: bool) -> None:
    """One format: the hot path's precompiled templates write the very bytes
    that an ordinary record through the one handler gets, in both formats."""
    when = 1796247108.25
    assert record_line("json", when, rid, bound) == render_json((when, ACCESS, rid, VALUES))
    assert record_line("text", when, rid, bound) == render_text(when, ACCESS, rid, VALUES)
    fields = list(FIELDS.items())
    assert render_json((when, ACCESS, rid, VALUES)) == render_line(
        "json", when, "info", *LOGGER_EVENT, fields, rid
    )
    assert render_text(when, ACCESS, rid, VALUES) == render_line(
        "text", when, "info", *LOGGER_EVENT, fields, rid
    )


def test_record_lines_quote_ambiguous_values_and_keep_tracebacks() -> None:
    out = io.StringIO()
    handler = build_handler("text")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    logger = logging.getLogger("mediagate.test-lines")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad https://example.test/x?Signature=abc")
        except ValueError:
            logger.exception("failed", extra={"why": "two words", "n": None, "d": {"a": 1}})
    finally:
        logger.removeHandler(handler)
    first, *rest = out.getvalue().splitlines()
    assert first.endswith(
        "[error    ] failed                         [mediagate.test-lines] why='two words' n=None d={'a': 1}"
    )
    assert rest[0] == "Traceback (most recent call last):"
    assert "Signature=abc" not in out.getvalue()


def test_text_line_keeps_its_shape_and_static_percent_signs() -> None:
    line = render_text(1796247108.5, ACCESS, "rid-2", VALUES)
    assert line.startswith("2026-12-02T21:31:48.500000Z [info     ] request ")
    assert line.endswith(
        "[mediagate.access] method=GET route=/x/{a} status=307 duration_ms=0.25 bytes=0 client=::1"
        " request_id=rid-2"
    )
    odd = render_text(1796247108.0, shape("mediagate.x", "50% done", ("v",)), None, ("100%s",))
    assert "50% done" in odd and odd.endswith("[mediagate.x] v=100%s")


def test_lines_are_written_in_a_batch_and_counted_when_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = LineBuffer()
    monkeypatch.setattr(lines_module, "MAX_PENDING", 3)
    monkeypatch.setattr(buffer, "_start", lambda: None)  # no writer thread: this test flushes
    with only_ours() as out:
        for i in range(5):
            buffer.emit_values(shape("mediagate.access", "request", ("n",)), f"r{i}", (i,))
        assert out.getvalue() == ""  # nothing written on the request path
        buffer.flush()
    written = [json.loads(line) for line in out.getvalue().splitlines()]
    # The newest three, in order, then one line saying two were dropped.
    assert [w.get("request_id") for w in written[:3]] == ["r2", "r3", "r4"]
    assert written[3]["event"] == "2 log lines dropped (stderr blocked)"
    assert len(written) == 4


def test_a_foreign_handler_gets_ordinary_records(caplog: pytest.LogCaptureFixture) -> None:
    # Under a capture handler (a test's, an embedding application's) nothing is batched.
    with caplog.at_level(logging.INFO, logger="mediagate.access"):
        LineBuffer().emit_values(shape("mediagate.access", "request", ("status",)), "rid-3", (200,))
    [record] = [r for r in caplog.records if r.name == "mediagate.access"]
    assert record.getMessage() == "request"
    assert record.__dict__["request_id"] == "rid-3" and record.__dict__["status"] == 200


def test_a_disabled_logger_writes_nothing() -> None:
    logging.getLogger("mediagate.quiet").setLevel(logging.WARNING)
    buffer = LineBuffer()
    with only_ours() as out:
        buffer.emit_values(shape("mediagate.quiet", "request", ()), "rid", ())
        buffer.emit_values(shape("mediagate.loud", "request", ()), "rid", ())
        buffer.flush()
    assert [json.loads(line)["logger"] for line in out.getvalue().splitlines()] == ["mediagate.loud"]
