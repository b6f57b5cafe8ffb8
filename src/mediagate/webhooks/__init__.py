"""Webhooks: Twilio's signature, a durable delivery queue and its worker.

One idea per module: ``signature`` (Twilio's HMAC and the request URL),
``params`` (what Twilio sends), ``queue`` (the durable rows, claims and
attempts), ``sender`` (one attempt) and ``worker`` (the polling loop).

A webhook is a ``WebhookDelivery`` row written in the same transaction as
the change it reports (an inbound message, an outbound status change), so
it survives a crash or restart. Every server process runs one worker that
polls for due rows, claims each with a conditional UPDATE (safe with many
processes, on SQLite and PostgreSQL), sends it signed with the receiving
account's *current* auth token, records the attempt and, on failure,
reschedules with exponential backoff until ``max_attempts``.

Delivery is at least once: a process that dies mid-send leaves its claim to
expire, and the row is sent again with the same ``I-Twilio-Idempotency-Token``.
The claim (lease, ``MEDIAGATE_WEBHOOK_LEASE``) is short, and the worker renews
it while a send is in flight, so a crash costs at most one lease of delay.
Senders are shared fairly: a worker claims as soon as a sender is free (no
batch waits for its slowest send) and one account's deliveries hold at most
``webhook_senders_per_account`` senders, so a hanging endpoint delays only
the account that configured it. With ``MEDIAGATE_REDIS_URL`` that per-account
cap holds across every process (``mediagate.cluster.shared_slots``); without Redis it
is per process.
"""

from __future__ import annotations

from mediagate.core.uris import API_VERSION
from mediagate.webhooks.params import incoming_params, media_content_url, status_params
from mediagate.webhooks.queue import (
    BATCH,
    DELIVERY_PREFIX,
    USER_AGENT,
    DeliveryView,
    Outcome,
    attempts_of,
    backoff,
    claim,
    due,
    enqueue,
    extend_leases,
    heartbeat,
    lease,
    list_recent,
    page,
    queue_depth,
    record_attempt,
)
from mediagate.webhooks.sender import Sender, attempt, attempt_claimed
from mediagate.webhooks.signature import Params, compute_signature, request_url
from mediagate.webhooks.worker import Worker

__all__ = [
    "API_VERSION",
    "BATCH",
    "DELIVERY_PREFIX",
    "USER_AGENT",
    "DeliveryView",
    "Outcome",
    "Params",
    "Sender",
    "Worker",
    "attempt",
    "attempt_claimed",
    "attempts_of",
    "backoff",
    "claim",
    "compute_signature",
    "due",
    "enqueue",
    "extend_leases",
    "heartbeat",
    "incoming_params",
    "lease",
    "list_recent",
    "media_content_url",
    "page",
    "queue_depth",
    "record_attempt",
    "request_url",
    "status_params",
]
