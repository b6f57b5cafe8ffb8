"""Log format. Secrets never reach a log line: the only request data logged
are methods, route templates, paths' sids (no query strings) and decisions.

Every logger in mediagate is a plain ``logging`` logger; structlog only
formats, at the one handler that ``build_handler`` makes. That keeps a
single place where records become lines (text for a terminal, one JSON
object per line for log shippers) and a single place to attach filters
(redaction) that must see every record, ours and the servers'.
"""

from __future__ import annotations

import logging
import sys

import structlog

# The ASGI servers' own loggers: routed through our handler so that they
# share its format. Their access loggers stay silent: they print query
# strings, and a signed media URL carries its Signature= there. The
# request-id'ed access line comes from mediagate.observability instead.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "_granian", "granian")
SERVER_ACCESS_LOGGERS = ("uvicorn.access", "granian.access")
# httpx logs every request it makes at INFO with the full URL: the customer's
# MediaUrl and webhook URLs, query strings (presigned tokens, GET webhook
# parameters) included. Our own lines say what was fetched without them.
QUIET_LOGGERS = ("httpx", "httpcore")


def _drop_color_message(
    _logger: object, _name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    # uvicorn passes an ANSI-coloured copy of its message as an extra.
    event_dict.pop("color_message", None)
    return event_dict


def _shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,  # request_id, bound per request
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.stdlib.ExtraAdder(),  # ``extra={...}`` becomes fields (audit, access)
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def build_handler(fmt: str = "text") -> logging.Handler:
    """The one handler every record goes through (on stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    renderer: structlog.typing.Processor
    tail: list[structlog.typing.Processor]
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        tail = [structlog.processors.dict_tracebacks]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), sort_keys=False)
        tail = []
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
        )
    )
    return handler


def configure(level: str, fmt: str = "text") -> None:
    """Route every record (ours, uvicorn's, granian's) to one handler. Idempotent:
    the CLI calls it, and so does each server worker when it imports the app."""
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
