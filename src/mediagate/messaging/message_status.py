"""A message's status changes and the status callbacks that report them: one
path for every carrier adapter (loopback, off-net, the carrier ingress)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import func, update

from mediagate import webhooks
from mediagate.db.dml import rowcount
from mediagate.db.models import Message

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.carriers")  # the carriers' logger, as before the move


# Statuses after which nothing changes any more.
FINAL = frozenset({"delivered", "undelivered", "failed", "received", "canceled", "read"})


def set_status(
    rt: Runtime,
    message_sid: str,
    status: str,
    *,
    error_code: int | None = None,
    error_message: str | None = None,
) -> Message | None:
    """Change an outbound message's status and, when it has a StatusCallback,
    enqueue the callback in the same transaction."""
    with rt.tx() as session:
        return apply_status(
            session, rt, message_sid, status, error_code=error_code, error_message=error_message
        )


def apply_status(
    session: Session,
    rt: Runtime,
    message_sid: str,
    status: str,
    *,
    error_code: int | None = None,
    error_message: str | None = None,
) -> Message | None:
    """``set_status`` inside the caller's transaction. None, and nothing
    reported, when the message is gone, final, or already in ``status``: the
    change is one conditional UPDATE, so a hand-off that runs twice (after a
    crash, or in two processes) reports each change once."""
    now = rt.clock.now()
    values: dict[str, object] = {"status": status, "date_updated": now}
    if status == "sent":
        values["date_sent"] = func.coalesce(Message.date_sent, now)
    if error_code is not None:
        values["error_code"] = error_code
        values["error_message"] = error_message
    changed = rowcount(
        session,
        update(Message)
        .where(Message.sid == message_sid, Message.status != status, Message.status.not_in(FINAL))
        .values(values)
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        return None
    message = session.get(Message, message_sid, populate_existing=True)
    if message is not None and message.status_callback:
        _enqueue_status(session, rt, message)
    return message


def _enqueue_status(session: Session, rt: Runtime, message: Message) -> None:
    assert message.status_callback is not None
    webhooks.enqueue(
        session,
        rt,
        account_sid=message.account_sid,
        message_sid=message.sid,
        kind="status",
        url=message.status_callback,
        method="POST",
        params=webhooks.status_params(message),
    )
