"""Counting storage and database errors without the backends knowing.

The storage backends and the engine stay unaware of metrics (nothing in
``storage/`` or ``db/`` imports prometheus): the app wraps the store's verbs
on the instance and listens to SQLAlchemy's ``handle_error`` event, which
fires for every DBAPI error on any connection of the engine.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, event

from mediagate.observability import metrics
from mediagate.storage import DISK_FULL, MediaStore, ObjectNotFound, StorageError

_VERBS = ("put", "stat", "delete", "iter_keys", "clean_temp", "presigned_url")
_MARK = "_mediagate_counted"
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
REASONS = ("full", "unavailable", "denied", "other")


def storage_error_reason(exc: BaseException) -> str:
    """The ``reason`` label: ``full`` (the volume or quota; what to page on),
    ``unavailable`` (the backend unreachable or refusing), ``denied``
    (permissions, a read-only mount), ``other``."""
    if not isinstance(exc, OSError):
        return "other"
    if exc.errno in DISK_FULL:
        return "full"
    if isinstance(exc, StorageError):
        return "unavailable"
    if exc.errno in _DENIED:
        return "denied"
    return "other"


def count_storage_errors(store: MediaStore) -> None:
    """Wrap the store's verbs (once) so that an error other than a missing
    object increments ``mediagate_storage_errors_total{operation,reason}``."""
    if getattr(store, _MARK, False):
        return
    # The write's series exist from the start, at 0: ``increase()`` over a
    # series that appears at 1 is 0, so the first full disk would not alert.
    for reason in REASONS:
        metrics.STORAGE_ERRORS.labels("put", reason)
    for verb in _VERBS:
        method = getattr(store, verb, None)
        if method is not None:
            setattr(store, verb, _counted(verb, method))
    stream = getattr(store, "stream", None)
    if stream is not None:
        setattr(store, "stream", _counted_stream(stream))  # noqa: B010 - an instance attribute on purpose
    setattr(store, _MARK, True)


def _counted(verb: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ObjectNotFound:
            raise
        except Exception as exc:
            metrics.STORAGE_ERRORS.labels(verb, storage_error_reason(exc)).inc()
            raise

    return wrapper


def _counted_stream(method: Callable[..., Iterator[bytes]]) -> Callable[..., Iterator[bytes]]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        try:
            yield from method(*args, **kwargs)
        except ObjectNotFound:
            raise
        except GeneratorExit:
            raise
        except Exception as exc:
            metrics.STORAGE_ERRORS.labels("stream", storage_error_reason(exc)).inc()
            raise

    return wrapper


def count_database_errors(engine: Engine) -> None:
    if event.contains(engine, "handle_error", _on_db_error):
        return
    event.listen(engine, "handle_error", _on_db_error)


def _on_db_error(context: Any) -> None:
    error = context.sqlalchemy_exception or context.original_exception
    metrics.DATABASE_ERRORS.labels(type(error).__name__).inc()
