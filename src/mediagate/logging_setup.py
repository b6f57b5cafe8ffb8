"""Log format, and the redaction every log record goes through.

Secrets never reach a log line. Our own code logs methods, paths (sids, no
query strings) and decisions, but libraries log what they see: httpx writes
every outbound URL at INFO (a MediaUrl's presigned query, a webhook URL's
query string), SQLAlchemy errors carried the SQL parameters (token hashes,
sealed tokens, message bodies), and exception texts quote URLs. So, at the
root of the mechanism rather than logger by logger:

* the SQLAlchemy engine hides parameters (``db.engine``);
* httpx/httpcore only log warnings (their INFO/DEBUG lines are full URLs and
  raw headers);
* every record, whatever logger or handler it goes to (uvicorn's and
  granian's install their own handlers), is redacted when it is created:
  query strings, URL userinfo and Authorization/Basic/Bearer values are
  replaced, in the message and in the formatted traceback.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in any URL.
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s@?#'\"<>]*@"), rf"\1{REDACTED}@"),
    # A query string: "?" and everything up to whitespace or a quote. Signed URLs
    # (Signature=), presigned S3 URLs, webhook URLs with tokens or Body= all end here.
    # Only after a path or host character, so SQL placeholders ("(?, ?)") stay readable.
    (re.compile(r"(?<=[\w/.%~-])\?[^\s'\"<>]+"), f"?{REDACTED}"),
    # Credentials in headers or reprs of them.
    (re.compile(r"(?i)\b(basic|bearer|digest)\s+[A-Za-z0-9+/=._~-]{6,}"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(authorization|cookie|set-cookie|x-twilio-signature)(['\"]?\s*[:=,]\s*['\"]?)[^\r\n'\"]+"),
     rf"\1\2{REDACTED}"),
    # Form-encoded sensitive fields outside a URL (e.g. a request body in an error).
    (re.compile(r"(?i)\b(Body|AuthToken|Secret|Password|Token|Signature)=[^&\s'\"]*"), rf"\1={REDACTED}"),
)  # fmt: skip

_QUIET = ("httpx", "httpcore", "hpack", "urllib3", "botocore", "s3transfer")


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: log what we can, never raise from logging
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None:
        # Formatters reuse exc_text when it is set, so the traceback they print is
        # the redacted one, whatever handler (ours, uvicorn's, granian's) prints it.
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_redaction() -> None:
    """Redact every log record created in this process, by any logger. Idempotent."""
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(level: str) -> None:
    install_redaction()
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
