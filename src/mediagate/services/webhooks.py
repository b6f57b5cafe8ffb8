"""Webhooks: Twilio's signature, a durable delivery queue and its worker.

A webhook is a ``WebhookDelivery`` row written in the same transaction as
the change it reports (an inbound message, an outbound status change), so
it survives a crash or restart. Every server process runs one worker that
polls for due rows, claims each with a conditional UPDATE (safe with many
processes, on SQLite and PostgreSQL), sends it signed with the receiving
account's *current* auth token, records the attempt and, on failure,
reschedules with exponential backoff until ``max_attempts``.

Delivery is at least once: a process that dies mid-send leaves its claim to
expire, and the row is sent again with the same ``I-Twilio-Idempotency-Token``.
The claim (lease) is short, the request timeout plus a margin, and the worker
renews it while a send is in flight, so a crash costs at most ``LEASE`` of delay.
Senders are shared fairly: a worker claims as soon as a sender is free (no
batch waits for its slowest send) and one account's deliveries hold at most
``webhook_senders_per_account`` senders, so a hanging endpoint delays only
the account that configured it. With ``MEDIAGATE_REDIS_URL`` that per-account
cap holds across every process (``mediagate.shared_slots``); without Redis it
is per process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from mediagate import sids
from mediagate.db.models import Account, Message, WebhookAttempt, WebhookDelivery
from mediagate.observability import metrics
from mediagate.paging import Page, PageRequest, fetch_page
from mediagate.services import fetch
from mediagate.services.records import WebhookAttemptRecord, WebhookDeliveryRecord, page_of
from mediagate.shared_slots import SharedStateUnavailable
from mediagate.timefmt import utcnow

if TYPE_CHECKING:
    from mediagate.context import Runtime

log = logging.getLogger("mediagate.webhooks")

DELIVERY_PREFIX = "WD"  # our own resource, not a Twilio one
API_VERSION = "2010-04-01"
USER_AGENT = "TwilioProxy/1.1"
TIMEOUT = 10.0
MAX_BACKOFF = 600.0
# A claimed row is retried by anyone once its claimer is this late: one request
# timeout plus a margin for the database writes around it. The worker renews the
# claims of its sends every HEARTBEAT, so a slow send (connect + write + read
# each get TIMEOUT) keeps its claim and only a dead process loses it.
LEASE = timedelta(seconds=TIMEOUT + 5)
HEARTBEAT = LEASE.total_seconds() / 3
POLL_INTERVAL = 0.5
BATCH = 16

Params = Sequence[tuple[str, str]]


# --- signing ---------------------------------------------------------------------------------


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """Twilio's ``X-Twilio-Signature``: the full URL (query string included), then
    each POST parameter as name+value, names sorted, HMAC-SHA1 keyed with the
    auth token, base64. Repeated names contribute their sorted values, as
    twilio-python's ``RequestValidator`` computes it."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def request_url(url: str, method: str, params: Params) -> str:
    """The URL actually requested: for GET the parameters go in the query string
    (kept after any query the configured URL already has)."""
    if method != "GET" or not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(list(params))


# --- the params Twilio sends -------------------------------------------------------------------


def media_content_url(rt: Runtime, account_sid: str, message_sid: str, media_sid: str) -> str:
    base = f"{rt.settings.public_url}/{API_VERSION}/Accounts/{account_sid}"
    return f"{base}/Messages/{message_sid}/Media/{media_sid}"


def incoming_params(rt: Runtime, message: Message, media: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Parameters of an inbound-message webhook. ``media``: (ME sid, content type) in order."""
    params = [
        ("SmsMessageSid", message.sid),
        ("NumMedia", str(len(media))),
        ("SmsSid", message.sid),
        ("SmsStatus", "received"),
        ("Body", message.body),
        ("To", message.to),
        ("NumSegments", str(message.num_segments)),
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    if message.from_.lower().startswith("whatsapp:"):
        params.append(("WaId", message.from_.split(":", 1)[1].lstrip("+")))
    for n, (media_sid, content_type) in enumerate(media):
        params.append((f"MediaContentType{n}", content_type))
        params.append((f"MediaUrl{n}", media_content_url(rt, message.account_sid, message.sid, media_sid)))
    return params


def status_params(message: Message) -> list[tuple[str, str]]:
    params = [
        ("SmsSid", message.sid),
        ("SmsStatus", message.status),
        ("MessageStatus", message.status),
        ("To", message.to),
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    if message.status in ("failed", "undelivered") and message.error_code is not None:
        params.append(("ErrorCode", str(message.error_code)))
    return params


# --- the queue ---------------------------------------------------------------------------------


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
    now = utcnow()
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
    now = utcnow()
    stmt = select(
        func.count(case((WebhookDelivery.next_attempt_at <= now, 1))),
        func.count(case((WebhookDelivery.next_attempt_at > now, 1))),
    ).where(WebhookDelivery.status == "pending")
    with rt.sessions() as session:
        due_now, waiting = session.execute(stmt).one()
    return int(due_now), int(waiting)


def backoff(rt: Runtime, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: base, 2*base, 4*base, ... capped."""
    return float(min(rt.settings.webhook_retry_base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF))


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


# --- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _claim(rt: Runtime, sid: str) -> bool:
    now = utcnow()
    with rt.tx() as session:
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.sid == sid,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
            )
            .values(claimed_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def extend_leases(rt: Runtime, delivery_sids: Sequence[str]) -> None:
    """Renew the claims of sends still in flight (the worker's heartbeat)."""
    if not delivery_sids:
        return
    now = utcnow()
    with rt.tx() as session:
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.sid.in_(list(delivery_sids)),
                WebhookDelivery.status == "pending",
                WebhookDelivery.claimed_until.is_not(None),
            )
            .values(claimed_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )


def due(rt: Runtime, limit: int = BATCH, *, exclude_accounts: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(delivery sid, account sid) of deliveries to attempt now, skipping the
    accounts in ``exclude_accounts`` (those already using their share of the
    senders, so that their backlog cannot fill the batch). Callbacks about one
    message go out in the order they were queued (``sent`` before
    ``delivered``): a row waits while an older pending row of the same message
    and kind exists, even one in backoff."""
    now = utcnow()
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


class Sender:
    """POSTs (or GETs) one webhook under the MediaUrl SSRF policy: the host is
    resolved once, every address checked, and the connection made to the checked
    address (so DNS cannot change between check and connect). Redirects are not
    followed: a webhook that answers 3xx has not accepted the request."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._client = httpx.Client(
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=httpx.Timeout(TIMEOUT),
        )

    def close(self) -> None:
        self._client.close()

    def send(self, url: str, method: str, params: Params, headers: dict[str, str]) -> Outcome:
        fetcher = self._rt.fetcher
        full = request_url(url, method, params)
        try:
            # Reuse the media fetcher's parser and address policy for the customer's URL.
            target = fetch.parse_target(full, 32768)  # GET carries the params: allow long URLs
            addresses = fetcher.checked_addresses(target)
        except fetch.FetchError as exc:
            return Outcome(None, exc.message.replace("MediaUrl", "webhook URL"))
        body = urlencode(list(params)).encode() if method == "POST" else None
        extensions: dict[str, Any] = {}
        if target.url.scheme == "https" and target.addresses is None:
            extensions["sni_hostname"] = target.host.rstrip(".")
        last = "could not connect"
        for ip in addresses:
            request = self._client.build_request(
                method,
                target.url.copy_with(host=str(ip)),
                headers={**headers, "Host": target.url.netloc.decode("ascii")},
                content=body,
                extensions=extensions,
            )
            try:
                # Headers only: the status is all we use, and reading a body the
                # endpoint drips would hold the sender (and its claim) for ever.
                response = self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last = f"connection failed: {exc}"
                continue
            except httpx.TimeoutException:
                return Outcome(None, f"timed out after {TIMEOUT:g} s")
            except httpx.HTTPError as exc:
                return Outcome(None, f"HTTP error: {exc}")
            status = response.status_code
            response.close()
            return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")
        return Outcome(None, last)


def attempt(rt: Runtime, sender: Sender, sid: str) -> Outcome | None:
    """Claim ``sid`` and make one attempt; None when another worker had it."""
    if not _claim(rt, sid):
        return None
    return attempt_claimed(rt, sender, sid)


def attempt_claimed(rt: Runtime, sender: Sender, sid: str) -> Outcome | None:
    """Make one attempt of a delivery this process has claimed."""
    with rt.sessions() as session:
        row = session.get(WebhookDelivery, sid)
        account = session.get(Account, row.account_sid) if row else None
    if row is None or account is None:
        return None
    from mediagate.services import accounts

    params = [(str(k), str(v)) for k, v in row.params]
    url = request_url(row.url, row.method, params)
    # The token is read at each attempt: after a rotation, retries carry the new signature.
    token = accounts.reveal_auth_token(rt, account)
    signed_params = params if row.method == "POST" else []
    headers = {
        "X-Twilio-Signature": compute_signature(token, url, signed_params),
        "User-Agent": USER_AGENT,
        "I-Twilio-Idempotency-Token": row.idempotency_token,
        "Accept": "*/*",
    }
    if row.method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    started = time.monotonic()
    outcome = sender.send(row.url, row.method, params, headers)
    elapsed = int((time.monotonic() - started) * 1000)
    _record(rt, sid, outcome, elapsed)
    return outcome


def _record(rt: Runtime, sid: str, outcome: Outcome, elapsed_ms: int) -> None:
    now = utcnow()
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


class Worker:
    """Polls for due deliveries and sends them on ``webhook_senders`` threads.

    There is no batch barrier: whenever a sender is free the worker claims the
    next due row, so one slow send holds one sender, not the whole batch. At
    most ``webhook_senders_per_account`` sends of one account are in flight."""

    def __init__(self, rt: Runtime, poll_interval: float = POLL_INTERVAL) -> None:
        self._rt = rt
        self._poll = poll_interval
        self._senders = rt.settings.webhook_senders
        self._per_account = min(rt.settings.webhook_senders_per_account, self._senders)
        self._stop = threading.Event()
        self._wake = threading.Event()  # a send finished: a sender is free
        self._lock = threading.Lock()
        self._in_flight: dict[str, str] = {}  # delivery sid -> account sid
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=self._senders, thread_name_prefix="webhook-send")
        self._sender = Sender(rt)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sender.close()

    def in_flight(self) -> list[str]:
        with self._lock:
            return list(self._in_flight)

    def run_once(self) -> int:
        """Claim due deliveries into the free senders; returns how many sends started."""
        with self._lock:
            free = self._senders - len(self._in_flight)
            busy = Counter(self._in_flight.values())
        if free <= 0:
            return 0
        full = [account for account, n in busy.items() if n >= self._per_account]
        started = 0
        for sid, account_sid in due(self._rt, BATCH, exclude_accounts=full):
            if started >= free:
                break
            if busy[account_sid] >= self._per_account:
                continue
            slot = self._shared_slot(account_sid)
            if slot is False:
                continue  # the account's senders are busy in other processes
            if not _claim(self._rt, sid):
                self._release(slot)
                continue
            busy[account_sid] += 1
            with self._lock:
                self._in_flight[sid] = account_sid
            self._pool.submit(self._send, sid, slot)
            started += 1
        return started

    def _shared_slot(self, account_sid: str) -> str | bool | None:
        """With Redis: one of the account's ``webhook_senders_per_account``
        slots counted across every process (its token), or ``False`` when all
        are held (or Redis is down: fail closed, the rows wait). Without Redis
        ``None``: the per-process count above is the only bound."""
        shared = self._rt.shared_slots
        if shared is None:
            return None
        try:
            return shared.try_acquire(f"webhook:{account_sid}", self._per_account) or False
        except SharedStateUnavailable as exc:
            log.warning("webhook sends wait: the shared state store is unreachable (%s)", exc)
            return False

    def _release(self, slot: str | bool | None) -> None:
        if isinstance(slot, str) and self._rt.shared_slots is not None:
            self._rt.shared_slots.release(slot)

    def _send(self, sid: str, slot: str | bool | None = None) -> None:
        try:
            attempt_claimed(self._rt, self._sender, sid)
        except Exception:
            # The claim stays until its lease ends; then the row is retried.
            log.exception("webhook %s attempt failed", sid)
        finally:
            self._release(slot)
            with self._lock:
                self._in_flight.pop(sid, None)
            self._wake.set()

    def _run(self) -> None:
        next_heartbeat = time.monotonic() + HEARTBEAT
        while not self._stop.is_set():
            started = 0
            # Cleared before looking, so a send that ends while we look wakes the wait below.
            self._wake.clear()
            try:
                started = self.run_once()
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + HEARTBEAT
                    extend_leases(self._rt, self.in_flight())
            except Exception:
                log.exception("webhook worker iteration failed")
            if started:
                continue  # there may be more due rows for the senders still free
            self._wake.wait(min(self._poll, max(next_heartbeat - time.monotonic(), 0.0)))
