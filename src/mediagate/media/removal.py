"""Removing the stored objects of deleted media: one rule for the API's (and the
console's) media delete and message delete.

Rows go first, objects after the commit: a crash in between leaves an orphan
object for the scheduled gc (``mediagate media gc``), never a row pointing at
nothing. Once the row is gone no reader reaches the object (the content URL,
the secured and public hosts and direct delivery all start from the row), so a
store that fails the object's delete after the commit changes nothing a client
can see: the delete is answered as done and the object is left to gc. Answering
503 there (as before) told the caller nothing was deleted while a retry
answered 404.

Except where presigned URLs are out (``presign`` delivery): those read the
object from S3 without asking us, so the object's delete *is* the revocation.
There the objects go first, and a store that fails them fails the request
(503, nothing changed, safe to retry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from mediagate.media.revocation import presigned_urls_out
from mediagate.storage import StorageError

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.media")


def remove_first(rt: Runtime, keys: Callable[[], Iterable[str]]) -> None:
    """Before the rows, where presigned URLs are out: the objects ``keys`` reads
    (it raises the caller's NotFound) are deleted now, and a failure raises (503).
    Elsewhere nothing happens here: ``keys`` is not even read."""
    if presigned_urls_out(rt):
        for key in keys():
            rt.store.delete(key)


def remove_after_commit(rt: Runtime, keys: Iterable[str]) -> None:
    """After the rows' commit: a failing store leaves the objects to gc."""
    for key in keys:
        try:
            rt.store.delete(key)
        except StorageError as exc:
            # The key names the account and media sids, nothing secret.
            log.warning(
                "object %s of a deleted media left for `mediagate media gc`: the store failed (%s)", key, exc
            )
