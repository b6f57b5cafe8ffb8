"""The durable delivery queue: rows, their claims (leases), attempts and backoff.

A webhook is a ``WebhookDelivery`` row written in the same transaction as the
change it reports; workers claim due rows with a conditional UPDATE (safe with
many processes, on SQLite and PostgreSQL) and record each attempt here.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from mediagate.core import sids
from mediagate.core.paging import Page, PageRequest, fetch_page
from mediagate.db.dml import rowcount
from mediagate.db.models import WebhookAttempt, WebhookDelivery
from mediagate.db.records import WebhookAttemptRecord, WebhookDeliveryRecord, page_of
from mediagate.observability import metrics

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from mediagate.runtime.context import Runtime


log = logging.getLogger("mediagate.webhooks")  # one logger for the whole webhook machinery

DELIVERY_PREFIX = "WD"  # our own resource, not a Twilio one

USER_AGENT = "TwilioProxy/1.1"
BATCH = 16

Params = Sequence[tuple[str, str]]


def enqueue(
    session: Session,
    rt: Runtime,
    *,
    account_sid: str,
    message_sid: str | None,
    kind: str,
    url: str,
    method: str,
    params: Params,
) -> WebhookDelivery:
    """Add a delivery inside the caller's transaction (so it exists iff the change does)."""
    now = rt.clock.now()
    row = WebhookDelivery(
        sid=sids.new_sid(DELIVERY_PREFIX),
        account_sid=account_sid,
        message_sid=message_sid,
        kind=kind,
        url=url,
        method=method.upper() if method.upper() in ("GET", "POST") else "POST",
        params=[[k, v] for k, v in params],
        idempotency_token=secrets.token_hex(16),
        status="pending",
        attempts=0,
        max_attempts=rt.settings.webhook_max_attempts,
        next_attempt_at=now,
        date_created=now,
        date_updated=now,
    )
    session.add(row)
    metrics.WEBHOOK_DELIVERIES.labels(kind).inc()
    return row


def queue_depth(rt: Runtime) -> tuple[int, int]:
    """Pending deliveries: (due now, waiting out a backoff). One indexed query
    (``ix_webhooks_due``), run at scrape time."""
    now = rt.clock.now()
    stmt = select(
        func.count(case((WebhookDelivery.next_attempt_at <= now, 1))),
        func.count(case((WebhookDelivery.next_attempt_at > now, 1))),
    ).where(WebhookDelivery.status == "pending")
    with rt.sessions() as session:
        due_now, waiting = session.execute(stmt).one()
    return int(due_now), int(waiting)


@metrics.scrape_source
def queue_metrics(rt: Runtime) -> Iterator[Metric]:
    due, waiting = queue_depth(rt)
    depth = GaugeMetricFamily(
        "mediagate_webhook_queue_depth",
        "Webhook deliveries waiting to be sent: due now, or waiting out a retry backoff.",
        labels=["state"],
    )
    depth.add_metric(["due"], due)
    depth.add_metric(["waiting"], waiting)
    yield depth


def backoff(rt: Runtime, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: base, 2*base, 4*base, ...
    capped at ``MEDIAGATE_WEBHOOK_MAX_BACKOFF``."""
    settings = rt.settings
    return float(min(settings.webhook_retry_base * (2 ** max(attempts - 1, 0)), settings.webhook_max_backoff))


def lease(rt: Runtime) -> timedelta:
    """How long a claim holds (``MEDIAGATE_WEBHOOK_LEASE``). A claimed row is
    retried by anyone once its claimer is this late; the worker renews the
    claims of its sends every ``heartbeat``, so a slow send keeps its claim and
    only a dead process loses it."""
    return timedelta(seconds=rt.settings.webhook_lease)


def heartbeat(rt: Runtime) -> float:
    """Seconds between two renewals of the claims in flight: a third of the
    lease, so two renewals can be late (a slow database write) before it ends."""
    return rt.settings.webhook_lease / 3


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDeliveryRecord
    attempts: list[WebhookAttemptRecord]


def page(rt: Runtime, account_sid: str, message_sid: str | None, req: PageRequest) -> Page:
    stmt = select(WebhookDelivery).where(WebhookDelivery.account_sid == account_sid)
    if message_sid:
        stmt = stmt.where(WebhookDelivery.message_sid == message_sid)
    with rt.sessions() as session:
        found = fetch_page(session, stmt, WebhookDelivery.date_created, WebhookDelivery.sid, req)
        return page_of(found, WebhookDeliveryRecord.of)


def attempts_of(rt: Runtime, delivery_sids: Sequence[str]) -> dict[str, list[WebhookAttemptRecord]]:
    out: dict[str, list[WebhookAttemptRecord]] = {sid: [] for sid in delivery_sids}
    if not delivery_sids:
        return out
    with rt.sessions() as session:
        rows = session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_sid.in_(list(delivery_sids)))
            .order_by(WebhookAttempt.delivery_sid, WebhookAttempt.number)
        )
        for row in rows:
            out[row.delivery_sid].append(WebhookAttemptRecord.of(row))
    return out


def list_recent(rt: Runtime, account_sid: str | None, limit: int = 50) -> list[DeliveryView]:
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.date_created.desc(), WebhookDelivery.sid.desc())
    if account_sid:
        stmt = stmt.where(WebhookDelivery.account_sid == account_sid)
    with rt.sessions() as session:
        rows = list(session.scalars(stmt.limit(limit)))
    attempts = attempts_of(rt, [r.sid for r in rows])
    return [DeliveryView(WebhookDeliveryRecord.of(r), attempts[r.sid]) for r in rows]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(rt: Runtime, sid: str) -> bool:
    now = rt.clock.now()
    with rt.tx() as session:
        claimed = rowcount(
            session,
            update(WebhookDelivery)
            .where(
                WebhookDelivery.sid == sid,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
            )
            .values(claimed_until=now + lease(rt))
            .execution_options(synchronize_session=False),
        )
        return claimed == 1


def extend_leases(rt: Runtime, delivery_sids: Sequence[str]) -> None:
    """Renew the claims of sends still in flight (the worker's heartbeat)."""
    if not delivery_sids:
        return
    now = rt.clock.now()
    with rt.tx() as session:
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.sid.in_(list(delivery_sids)),
                WebhookDelivery.status == "pending",
                WebhookDelivery.claimed_until.is_not(None),
            )
            .values(claimed_until=now + lease(rt))
            .execution_options(synchronize_session=False)
        )


def due(rt: Runtime, limit: int = BATCH, *, exclude_accounts: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(delivery sid, account sid) of deliveries to attempt now, skipping the
    accounts in ``exclude_accounts`` (those already using their share of the
    senders, so that their backlog cannot fill the batch). Callbacks about one
    message go out in the order they were queued (``sent`` before
    ``delivered``): a row waits while an older pending row of the same message
    and kind exists, even one in backoff."""
    now = rt.clock.now()
    older = aliased(WebhookDelivery)
    blocked = (
        select(older.sid)
        .where(
            older.message_sid == WebhookDelivery.message_sid,
            older.kind == WebhookDelivery.kind,
            older.status == "pending",
            or_(
                older.date_created < WebhookDelivery.date_created,
                and_(older.date_created == WebhookDelivery.date_created, older.sid < WebhookDelivery.sid),
            ),
        )
        .exists()
    )
    stmt = select(WebhookDelivery.sid, WebhookDelivery.account_sid).where(
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
        ~blocked,
    )
    if exclude_accounts:
        stmt = stmt.where(WebhookDelivery.account_sid.not_in(list(exclude_accounts)))
    with rt.sessions() as session:
        rows = session.execute(stmt.order_by(WebhookDelivery.next_attempt_at).limit(limit))
        return [(sid, account_sid) for sid, account_sid in rows]


def record_attempt(rt: Runtime, sid: str, outcome: Outcome, elapsed_ms: int) -> None:
    now = rt.clock.now()
    with rt.tx() as session:
        row = session.get(WebhookDelivery, sid)
        if row is None:
            return
        row.attempts += 1
        session.add(
            WebhookAttempt(
                delivery_sid=sid,
                number=row.attempts,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=elapsed_ms,
                date_created=now,
            )
        )
        row.last_status_code = outcome.status_code
        row.last_error = outcome.error
        row.claimed_until = None
        row.date_updated = now
        metrics.WEBHOOK_ATTEMPTS.labels(row.kind, "success" if outcome.ok else "failure").inc()
        if outcome.ok:
            row.status = "delivered"
        elif row.attempts >= row.max_attempts:
            row.status = "failed"
            metrics.WEBHOOK_FAILURES.labels(row.kind).inc()
        else:
            row.next_attempt_at = now + timedelta(seconds=backoff(rt, row.attempts))
    log.info(
        "webhook %s attempt %d -> %s",
        sid,
        row.attempts if row else 0,
        outcome.status_code if outcome.status_code is not None else outcome.error,
    )
