"""The redaction every log record goes through (mediagate.observability.logging_setup)."""

from __future__ import annotations

import logging

import pytest

from mediagate.observability.logging_setup import REDACTED, install_redaction, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('HTTP Request: GET http://h.example/a.png?X-Amz-Signature=abc123 "HTTP/1.1 200 OK"', "abc123"),
        ("GET /_media/secure/AC1/ME2?Expires=1&Signature=sig0&Key-Pair-Id=KI3 200", "sig0"),
        ("POST https://hooks.example/in?token=t0ps3cret failed", "t0ps3cret"),
        ("fetch http://user:hunter2@h.example/x failed", "hunter2"),
        ("headers: Authorization: Basic QUMxOnNlY3JldA==", "QUMxOnNlY3JldA=="),
        ("{'authorization': 'Bearer eyJhbGciOi.x.y'}", "eyJhbGciOi"),
        ("body was To=%2B1555&Body=hello+there&From=x", "hello+there"),
    ],
)
def test_secrets_are_redacted(line: str, secret: str) -> None:
    out = redact(line)
    assert secret not in out and REDACTED in out


def test_ordinary_text_and_sql_placeholders_stay_readable() -> None:
    for line in ("INSERT INTO messages (sid, body) VALUES (?, ?)", "what? no", "message SM1 failed: 11200"):
        assert redact(line) == line


def test_records_and_tracebacks_of_any_logger_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    logger = logging.getLogger("some.library")
    with caplog.at_level(logging.DEBUG):
        logger.warning("GET %s", "http://h.example/x?Signature=s3cr3t")
        try:
            raise ValueError("could not fetch http://h.example/y?token=tr4ceback")
        except ValueError:
            logger.exception("failed")
    text = caplog.text
    assert "s3cr3t" not in text and "tr4ceback" not in text
    assert "ValueError" in text and REDACTED in text
