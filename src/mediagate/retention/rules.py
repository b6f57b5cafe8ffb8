"""Retention rules per account, and the pass that applies them.

An account's rule (``RetentionRule``; none = the deployment's default) says
when its media are deleted; any one condition suffices:

* ``days_after_creation``: N days after the media was stored. Unset, the
  deployment's ``MEDIAGATE_RETENTION_DEFAULT_DAYS`` applies (0 = keep); and
  ``MEDIAGATE_RETENTION_MAX_DAYS`` caps it (no account keeps media longer);
* ``days_after_last_access``: N days after the last fetch of its content URL
  or its media-host URL (never fetched: N days after creation). Fetches are
  recorded in memory and written in batches (``media/access.py``);
* ``after_first_download``: once its bytes were served (a 200/206 GET on a
  media host, or the hand-out of a presigned URL in ``presign`` delivery);
* ``after_webhook_delivered``: once the inbound-message webhook that announced
  it was answered with a 2xx by the number's SmsUrl (or SmsFallbackUrl).

``apply`` deletes in batches, each batch one transaction that deletes its rows
through ``media.delete_row`` (the API's delete) and writes one audit row (which
account, which rule, how many); objects are deleted after the commit. A crash
loses no decision: a committed batch is gone with its audit row, an uncommitted
one is still eligible and is found again by the next pass, and an object whose
row was committed away is an orphan for the gc. Nothing is redone or skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Select, exists, func, or_, select, union
from sqlalchemy import delete as sql_delete

from mediagate.cluster import invalidation as inv
from mediagate.core.crashpoints import crash_point
from mediagate.core.errors import BadRequest, NotFound
from mediagate.db.models import Account, AuditEvent, Media, MediaActivity, RetentionRule, WebhookDelivery
from mediagate.media.media import delete_row

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

CREATION = "days_after_creation"
LAST_ACCESS = "days_after_last_access"
FIRST_DOWNLOAD = "after_first_download"
WEBHOOK_DELIVERED = "after_webhook_delivered"
RULES = (CREATION, LAST_ACCESS, FIRST_DOWNLOAD, WEBHOOK_DELIVERED)  # the order a pass applies them
MAX_DAYS = 36500  # without a deployment maximum: a hundred years


@dataclass(frozen=True)
class Rule:
    account_sid: str
    days_after_creation: int | None
    days_after_last_access: int | None
    after_first_download: bool
    after_webhook_delivered: bool
    # The deployment's settings, so every adapter shows what actually applies.
    default_days: int
    max_days: int
    date_created: datetime | None  # None: the account never set a rule
    date_updated: datetime | None

    @property
    def effective_days_after_creation(self) -> int | None:
        """The creation rule that applies: the account's, else the default; capped by the maximum."""
        days = self.days_after_creation or self.default_days or None
        if self.max_days:
            days = min(days or self.max_days, self.max_days)
        return days

    @property
    def keeps_everything(self) -> bool:
        return not (
            self.effective_days_after_creation
            or self.days_after_last_access
            or self.after_first_download
            or self.after_webhook_delivered
        )


@dataclass(frozen=True)
class Change:
    """What a caller asked to change: ``None`` = leave as is; ``0`` for days = clear."""

    days_after_creation: int | None = None
    days_after_last_access: int | None = None
    after_first_download: bool | None = None
    after_webhook_delivered: bool | None = None


def rule_fields(rule: Rule) -> dict[str, object]:
    """The rule as the API and the CLI's --json show it (each adds its own dates/url)."""
    return {
        "account_sid": rule.account_sid,
        "days_after_creation": rule.days_after_creation,
        "days_after_last_access": rule.days_after_last_access,
        "after_first_download": rule.after_first_download,
        "after_webhook_delivered": rule.after_webhook_delivered,
        # What applies, with the deployment's default and maximum folded in.
        "effective_days_after_creation": rule.effective_days_after_creation,
        "deployment_default_days": rule.default_days or None,
        "deployment_max_days": rule.max_days or None,
    }


def resource_path(account_sid: str) -> str:
    return f"/v1/Accounts/{account_sid}/MediaRetention"


def _rule(rt: Runtime, account_sid: str, row: RetentionRule | None) -> Rule:
    s = rt.settings
    if row is None:
        return Rule(
            account_sid, None, None, False, False, s.retention_default_days, s.retention_max_days, None, None
        )
    return Rule(
        account_sid,
        row.days_after_creation,
        row.days_after_last_access,
        row.after_first_download,
        row.after_webhook_delivered,
        s.retention_default_days,
        s.retention_max_days,
        row.date_created,
        row.date_updated,
    )


def get_rule(rt: Runtime, account_sid: str) -> Rule:
    with rt.sessions() as session:
        if session.get(Account, account_sid) is None:
            raise NotFound(resource_path(account_sid))
        return _rule(rt, account_sid, session.get(RetentionRule, account_sid))


def parse_days(name: str, value: str | None, max_days: int) -> int | None:
    """A form value for a days field: ``None`` absent, ``0`` to clear (empty
    value), else whole days from 1 to the deployment's maximum."""
    if value is None:
        return None
    text = value.strip()
    if text == "":
        return 0
    top = max_days or MAX_DAYS
    # ASCII digits only, and few: int() takes '²' for a digit and refuses 5000 of them.
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not 1 <= int(text) <= top:
        limit = "this deployment's maximum" if max_days else "the largest accepted"
        raise BadRequest(
            f"{name} must be a whole number of days from 1 to {top} ({limit}), or empty to clear it.",
            code=20001,
        )
    return int(text)


def set_rule(rt: Runtime, account_sid: str, change: Change, *, actor: str, via: str) -> Rule:
    top = rt.settings.retention_max_days or MAX_DAYS
    for name, days in ((CREATION, change.days_after_creation), (LAST_ACCESS, change.days_after_last_access)):
        if days is not None and not 0 <= days <= top:  # adapters parse; this guards the service itself
            raise BadRequest(f"{name} must be from 1 to {top} days.", code=20001)
    with rt.tx() as session:
        if session.get(Account, account_sid, with_for_update=True) is None:
            raise NotFound(resource_path(account_sid))
        row = session.get(RetentionRule, account_sid)
        if row is None:
            now = rt.clock.now()
            row = RetentionRule(
                account_sid=account_sid,
                after_first_download=False,
                after_webhook_delivered=False,
                date_created=now,
                date_updated=now,
            )
            session.add(row)
        before = _describe(_rule(rt, account_sid, row))
        if change.days_after_creation is not None:
            row.days_after_creation = change.days_after_creation or None
        if change.days_after_last_access is not None:
            row.days_after_last_access = change.days_after_last_access or None
        if change.after_first_download is not None:
            row.after_first_download = change.after_first_download
        if change.after_webhook_delivered is not None:
            row.after_webhook_delivered = change.after_webhook_delivered
        row.date_updated = rt.clock.now()
        after = _describe(_rule(rt, account_sid, row))
        session.add(
            AuditEvent(
                account_sid=account_sid,
                actor=actor,
                action="retention.rule",
                target=account_sid,
                detail=f"via {via}: {before} -> {after}",
            )
        )
        session.flush()
        return _rule(rt, account_sid, row)


def _describe(rule: Rule) -> str:
    parts = [
        f"{CREATION}={rule.days_after_creation or '-'}",
        f"{LAST_ACCESS}={rule.days_after_last_access or '-'}",
        f"{FIRST_DOWNLOAD}={str(rule.after_first_download).lower()}",
        f"{WEBHOOK_DELIVERED}={str(rule.after_webhook_delivered).lower()}",
    ]
    return " ".join(parts)


# --------------------------------------------------------------------------- applying rules


@dataclass(frozen=True)
class Candidate:
    account_sid: str
    rule: str
    media_sid: str
    message_sid: str
    size: int
    date_created: datetime


@dataclass(frozen=True)
class Step:
    """Progress of ``apply``: one batch (deleted, or only listed in a dry run)."""

    account_sid: str
    rule: str
    media: list[Candidate]
    done: int
    total: int


def _eligible(rule: Rule, name: str, now: datetime) -> Select[str, str, int, datetime] | None:
    """Media of ``rule``'s account that rule ``name`` deletes now, or ``None`` when the rule is off."""
    base = select(Media.sid, Media.message_sid, Media.size, Media.date_created).where(
        Media.account_sid == rule.account_sid
    )
    if name == CREATION:
        days = rule.effective_days_after_creation
        return base.where(Media.date_created < now - timedelta(days=days)) if days else None
    if name == LAST_ACCESS:
        if not rule.days_after_last_access:
            return None
        cutoff = now - timedelta(days=rule.days_after_last_access)
        last = func.coalesce(MediaActivity.last_accessed, Media.date_created)
        return base.outerjoin(MediaActivity, MediaActivity.media_sid == Media.sid).where(last < cutoff)
    if name == FIRST_DOWNLOAD:
        if not rule.after_first_download:
            return None
        return base.join(MediaActivity, MediaActivity.media_sid == Media.sid).where(
            MediaActivity.first_downloaded.is_not(None)
        )
    if name == WEBHOOK_DELIVERED:
        if not rule.after_webhook_delivered:
            return None
        # Delivered after the media existed: media added to the message later
        # were not announced by that webhook.
        announced = exists().where(
            WebhookDelivery.message_sid == Media.message_sid,
            WebhookDelivery.account_sid == rule.account_sid,
            WebhookDelivery.kind == "incoming",
            WebhookDelivery.status == "delivered",
            WebhookDelivery.date_updated >= Media.date_created,
        )
        return base.where(announced)
    raise ValueError(name)


def rules_to_apply(rt: Runtime, account_sid: str | None = None) -> list[Rule]:
    """Every account's rule that deletes anything (or one account's)."""
    s = rt.settings
    with rt.sessions() as session:
        if account_sid is not None:
            if session.get(Account, account_sid) is None:
                raise NotFound(resource_path(account_sid))
            accounts = [account_sid]
        elif s.retention_default_days or s.retention_max_days:
            accounts = list(session.scalars(select(Account.sid).order_by(Account.sid)))
        else:
            accounts = list(
                session.scalars(select(RetentionRule.account_sid).order_by(RetentionRule.account_sid))
            )
        rows = {
            r.account_sid: r
            for r in session.scalars(select(RetentionRule).where(RetentionRule.account_sid.in_(accounts)))
        }
    rules = [_rule(rt, sid, rows.get(sid)) for sid in accounts]
    return [r for r in rules if not r.keeps_everything]


def apply(
    rt: Runtime,
    *,
    account_sid: str | None = None,
    dry_run: bool = False,
    batch: int | None = None,
    actor: str = "retention",
    count: bool = True,
) -> Iterator[Step]:
    """Apply the rules, one ``Step`` per committed batch (or listed batch, in a
    dry run). ``count``: compute ``Step.total`` first (for a progress bar; the
    background pass, which has no bar, skips that query)."""
    size = batch or rt.settings.retention_batch
    now = rt.clock.now()
    plan = []
    for rule in rules_to_apply(rt, account_sid):
        for name in RULES:
            stmt = _eligible(rule, name, now)
            if stmt is not None:
                plan.append((rule, name, stmt))
    # A media matching several rules is counted (and listed) under the first only.
    total = _count_distinct(rt, [stmt for _, _, stmt in plan]) if count else 0
    done = 0
    listed: set[str] = set()
    for rule, name, stmt in plan:
        after = ""  # keyset: each pass ends, even if another process deletes the same media
        while True:
            with rt.sessions() as session:
                rows = session.execute(stmt.where(Media.sid > after).order_by(Media.sid).limit(size)).all()
            if not rows:
                break
            after = rows[-1].sid
            found = [
                Candidate(rule.account_sid, name, r.sid, r.message_sid, r.size, r.date_created)
                for r in rows
                if r.sid not in listed
            ]
            if dry_run:
                listed.update(c.media_sid for c in found)
                done += len(found)
                if found:
                    yield Step(rule.account_sid, name, found, done, max(total, done))
                continue
            deleted = _delete_batch(rt, rule, name, found, actor=actor)
            done += len(deleted)
            yield Step(rule.account_sid, name, deleted, done, max(total, done))
    if not dry_run:
        sweep_activity(rt)


def _count_distinct(rt: Runtime, stmts: list[Select[str, str, int, datetime]]) -> int:
    """How many distinct media the rules delete (UNION drops the ones several rules match)."""
    if not stmts:
        return 0
    sids = union(*(select(stmt.subquery().c.sid) for stmt in stmts)).subquery()
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(sids)) or 0)


def _delete_batch(
    rt: Runtime, rule: Rule, name: str, found: list[Candidate], *, actor: str
) -> list[Candidate]:
    deleted: list[Candidate] = []
    keys: list[str] = []
    with rt.tx() as session:
        # Messages locked in sid order (delete_row locks each media's message):
        # two passes in two processes cannot deadlock on each other.
        for c in sorted(found, key=lambda c: (c.message_sid, c.media_sid)):
            key = delete_row(session, c.account_sid, c.message_sid, c.media_sid)
            if key is not None:  # None: deleted meanwhile (API, another pass): not ours to count
                keys.append(key)
                deleted.append(c)
        if deleted:
            session.execute(
                sql_delete(MediaActivity).where(MediaActivity.media_sid.in_([c.media_sid for c in deleted]))
            )
            first, last = min(c.media_sid for c in deleted), max(c.media_sid for c in deleted)
            session.add(
                AuditEvent(
                    account_sid=rule.account_sid,
                    actor=actor,
                    action="retention.delete",
                    target=name,
                    detail=(
                        f"{len(deleted)} media deleted by {name}={_value(rule, name)} "
                        f"({sum(c.size for c in deleted)} bytes; {first} .. {last})"
                    ),
                )
            )
    if deleted:
        from mediagate.observability import metrics  # lazily: see observability/multiproc.py

        metrics.RETENTION_DELETED.labels(name).inc(len(deleted))
    # As the API's delete: every process forgets the rows at once.
    rt.invalidation.publish_many(inv.MEDIA, [c.media_sid for c in deleted])
    crash_point("retention-after-batch")
    for key in keys:
        rt.store.delete(key)
    return sorted(deleted, key=lambda c: c.media_sid)


def _value(rule: Rule, name: str) -> str:
    if name == CREATION:
        return str(rule.effective_days_after_creation)
    if name == LAST_ACCESS:
        return str(rule.days_after_last_access)
    return "true"


def sweep_activity(rt: Runtime, limit: int = 1000) -> int:
    """Drop access records of media deleted by other paths (a message delete),
    or flushed just after their media was deleted."""
    with rt.tx() as session:
        orphans = list(
            session.scalars(
                select(MediaActivity.media_sid)
                .where(~exists().where(Media.sid == MediaActivity.media_sid))
                .limit(limit)
            )
        )
        if orphans:
            session.execute(sql_delete(MediaActivity).where(MediaActivity.media_sid.in_(orphans)))
    return len(orphans)


def recent_batches(rt: Runtime, account_sid: str, limit: int = 20) -> list[AuditEvent]:
    """The account's latest retention audit rows (rule changes and deleting batches)."""
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.account_sid == account_sid,
                    or_(AuditEvent.action == "retention.delete", AuditEvent.action == "retention.rule"),
                )
                .order_by(AuditEvent.id.desc())
                .limit(limit)
            )
        )
