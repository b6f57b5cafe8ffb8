"""Log format, and the redaction every log record goes through.

Secrets never reach a log line. Our own code logs methods, route templates,
paths' sids (no query strings) and decisions, but libraries log what they
see: httpx writes every outbound URL at INFO (a MediaUrl's presigned query, a
webhook URL's query string), SQLAlchemy errors carried the SQL parameters
(token hashes, sealed tokens, message bodies), and exception texts quote
URLs. So, at the root of the mechanism rather than logger by logger:

* the SQLAlchemy engine hides parameters (``db.engine``);
* httpx/httpcore (and the S3 client's loggers) only log warnings;
* every record, whatever logger or handler it goes to, is redacted when it is
  created: query strings, URL userinfo and Authorization/Basic/Bearer values
  are replaced, in the message and in the formatted traceback.

Every logger in mediagate is a plain ``logging`` logger. The one handler
that ``build_handler`` makes writes every record in the format of
``observability.lines`` (text for a terminal, one JSON object per line for
log shippers), the format of the batched access and audit lines too.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any

from mediagate.observability.lines import FORMAT_ATTRIBUTE, REQUEST_ID, render_line

# granian's own loggers: routed through our handler so that they share its
# format. Its access logger stays silent: it prints query strings, and a
# signed media URL carries its Signature= there. The request-id'ed access
# line comes from mediagate.observability instead.
SERVER_LOGGERS = ("_granian", "granian")
SERVER_ACCESS_LOGGERS = ("granian.access",)
# httpx logs every request it makes at INFO with the full URL: the customer's
# MediaUrl and webhook URLs, query strings (presigned tokens, GET webhook
# parameters) included. Our own lines say what was fetched without them.
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "urllib3", "botocore", "s3transfer")


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
        # the redacted one, whatever handler (ours, granian's) prints it.
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_redaction() -> None:
    """Redact every log record created in this process, by any logger. Idempotent."""
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)


# The attributes every LogRecord has; any other attribute came from ``extra={...}``
# and is written as a field (the audit and access lines' fallback, a service's
# context). "message" and "asctime" are left by other formatters.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


class LineFormatter(logging.Formatter):
    """Writes a ``logging`` record in the format of ``observability.lines``
    (``render_line``), the one the batched access and audit lines have."""

    def __init__(self, fmt: str = "text") -> None:
        super().__init__()
        self.fmt = "json" if fmt == "json" else "text"

    def format(self, record: logging.LogRecord) -> str:
        fields = [(k, v) for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES]
        request_id = REQUEST_ID.get()
        for i, (key, value) in enumerate(fields):
            if key == "request_id":  # given explicitly (the batched lines' fallback)
                request_id = value
                del fields[i]
                break
        return render_line(
            self.fmt,
            record.created,
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            fields,
            request_id,
            _exception_text(record),
        )


def _exception_text(record: logging.LogRecord) -> str | None:
    """The traceback as plain text, redacted like the message. Never a rich
    traceback with the frames' local variables (a message body, a token, the
    SQL parameters): exactly what must not reach a log."""
    text = record.exc_text  # set, redacted, by the record factory
    if not text and record.exc_info and record.exc_info[0] is not None:
        text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        text = f"{text}\n{record.stack_info}" if text else record.stack_info
    return text or None


def build_handler(fmt: str = "text") -> logging.Handler:
    """The one handler every record goes through (on stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    # observability/lines.py writes the per-request lines to this handler itself.
    vars(handler)[FORMAT_ATTRIBUTE] = "json" if fmt == "json" else "text"
    handler.setFormatter(LineFormatter(fmt))
    return handler


def configure(level: str, fmt: str = "text") -> None:
    """Route every record (ours, granian's) to one handler. Idempotent:
    the CLI calls it, and so does each server worker when it imports the app."""
    install_redaction()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(build_handler(fmt))
    root.setLevel(level.upper())
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in SERVER_ACCESS_LOGGERS:
        access = logging.getLogger(name)
        access.handlers.clear()
        access.setLevel(logging.CRITICAL + 1)


def granian_log_config() -> dict[str, object]:
    """granian applies its own dictConfig when it starts; this one keeps its
    loggers on our handler instead of its own text handlers."""
    return {
        "formatters": {},
        "handlers": {},
        "loggers": {
            "_granian": {"handlers": [], "propagate": True},
            "granian.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }
