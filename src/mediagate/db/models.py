"""Tables. Secrets are never stored in plain text (see ``core/crypto.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import JSON

from mediagate.core.clock import EXECUTION_OPTION, Clock, SystemClock

_SYSTEM = SystemClock()


def stamp(context: ExecutionContext) -> datetime:
    """The default and on-update value of the date columns: the runtime's clock,
    which ``build_runtime`` hands to its sessions as an execution option, so a
    row the code does not stamp itself still carries the moved time in tests.
    Connections without it (migrations, ad-hoc scripts) read the system clock.
    SQLAlchemy passes the execution context because the parameter is required."""
    clock: Clock = context.execution_options.get(EXECUTION_OPTION, _SYSTEM)
    return clock.now()


Sid = String(34)
When = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    owner_account_sid: Mapped[str | None] = mapped_column(Sid, ForeignKey("accounts.sid"), index=True)
    friendly_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    auth_token_hash: Mapped[str] = mapped_column(String(64))
    auth_token_sealed: Mapped[str] = mapped_column(Text)
    secondary_token_hash: Mapped[str | None] = mapped_column(String(64))
    secondary_token_sealed: Mapped[str | None] = mapped_column(Text)
    secondary_token_created: Mapped[datetime | None] = mapped_column(When)
    enforce_media_http_auth: Mapped[bool] = mapped_column(Boolean, default=True)
    # Early revocation (media/revocation.py): signed media URLs of this
    # account issued before this instant (epoch ms) are void. NULL: none.
    media_urls_revoked_before: Mapped[int | None] = mapped_column(BigInteger)
    # Twilio's test credentials (accounts/test_credentials.py): a SID of their own
    # and a token stored like the auth token. The token columns are NULL only
    # between migration 0012 and the first start that issues the token.
    test_account_sid: Mapped[str] = mapped_column(Sid, unique=True, index=True)
    test_auth_token_hash: Mapped[str | None] = mapped_column(String(64))
    test_auth_token_sealed: Mapped[str | None] = mapped_column(Text)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class ApiKey(Base):
    __tablename__ = "api_keys"

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), index=True)
    friendly_name: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(16), default="standard")
    permissions: Mapped[str | None] = mapped_column(Text)  # JSON list, restricted keys only
    secret_hash: Mapped[str] = mapped_column(String(64))
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class SettingChange(Base):
    """Who turned *Enforce HTTP Auth on Media URLs* on or off, and when."""

    __tablename__ = "setting_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), index=True)
    setting: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str] = mapped_column(String(64))
    new_value: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)


class AuditEvent(Base):
    """Administrative actions (keys, deletes, signing keys). Per-request access
    decisions go to the ``mediagate.audit`` log instead: a row per redirect
    would put a write on the hottest path."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_sid: Mapped[str | None] = mapped_column(Sid, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    # Indexed: media/revocation.py asks for one action (``delivery.presign``) at every delete.
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_account_created", "account_sid", "date_created", "sid"),)

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"))
    to: Mapped[str] = mapped_column(String(256))
    from_: Mapped[str] = mapped_column("from", String(256))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(24))
    direction: Mapped[str] = mapped_column(String(24))
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    num_segments: Mapped[int] = mapped_column(Integer, default=1)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    messaging_service_sid: Mapped[str | None] = mapped_column(Sid)
    # Where status changes of an outbound message are reported (Twilio's StatusCallback).
    status_callback: Mapped[str | None] = mapped_column(Text)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)
    date_sent: Mapped[datetime | None] = mapped_column(When)


class Media(Base):
    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_message_created", "message_sid", "date_created", "sid"),
        Index("ix_media_account_created", "account_sid", "date_created", "sid"),
    )

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"))
    message_sid: Mapped[str] = mapped_column(Sid, ForeignKey("messages.sid"))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(255))
    # Fixed when the row is created from the account's setting; never flipped
    # by a later change of that setting (SPEC section 3).
    auth_required: Mapped[bool] = mapped_column(Boolean)
    # Early revocation of this media's signed URLs (epoch ms), as on Account.
    urls_revoked_before: Mapped[int | None] = mapped_column(BigInteger)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class SigningKey(Base):
    """Keys for secured-media URLs. Retiring one kills every URL signed with it."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(34), primary_key=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_retired: Mapped[datetime | None] = mapped_column(When)


class IncomingPhoneNumber(Base):
    """A number one account owns; inbound messages to it go to ``sms_url``.
    ``phone_number`` is unique across the whole service."""

    __tablename__ = "incoming_phone_numbers"
    __table_args__ = (Index("ix_numbers_account_created", "account_sid", "date_created", "sid"),)

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"))
    phone_number: Mapped[str] = mapped_column(String(32), unique=True)
    friendly_name: Mapped[str] = mapped_column(String(64), default="")
    sms_url: Mapped[str | None] = mapped_column(Text)
    sms_method: Mapped[str] = mapped_column(String(8), default="POST")
    sms_fallback_url: Mapped[str | None] = mapped_column(Text)
    sms_fallback_method: Mapped[str] = mapped_column(String(8), default="POST")
    status_callback: Mapped[str | None] = mapped_column(Text)
    status_callback_method: Mapped[str] = mapped_column(String(8), default="POST")
    voice_url: Mapped[str | None] = mapped_column(Text)
    voice_method: Mapped[str] = mapped_column(String(8), default="POST")
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class WebhookDelivery(Base):
    """One webhook to send (an inbound message, or an outbound status change).
    Pending rows are the durable queue: any server process may claim one."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhooks_due", "status", "next_attempt_at"),
        Index("ix_webhooks_account_created", "account_sid", "date_created", "sid"),
    )

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"))
    message_sid: Mapped[str | None] = mapped_column(Sid, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "incoming" | "status"
    url: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(8), default="POST")
    params: Mapped[list[list[str]]] = mapped_column(JSON)  # ordered [name, value] pairs
    idempotency_token: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    next_attempt_at: Mapped[datetime] = mapped_column(When, default=stamp)
    claimed_until: Mapped[datetime | None] = mapped_column(When)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class WebhookAttempt(Base):
    """One try at a delivery: what the receiver answered, or why it could not."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_sid: Mapped[str] = mapped_column(Sid, ForeignKey("webhook_deliveries.sid"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)


class ConsoleSession(Base):
    """A signed-in console session, server-side, so that signing out (or an
    operator) ends every copy of its cookie: the cookie is only valid while its
    row exists. ``id`` is a SHA-256 of the cookie's random nonce, never the
    nonce itself (the nonce also derives the session's CSRF token)."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), index=True)
    credential_sid: Mapped[str] = mapped_column(Sid)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    expires_at: Mapped[datetime] = mapped_column(When, index=True)


class CarrierCredential(Base):
    """A deployment-level credential for carrier ingress (``/v1/Carrier/Inbound``):
    held by the operator's carrier gateway, never by a tenant. Created by
    ``mediagate carrier credentials create``; the secret is stored hashed."""

    __tablename__ = "carrier_credentials"

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    friendly_name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)


class NumberAssignment(Base):
    """Which account a phone number belongs to in this deployment. An operator
    assigns numbers (``mediagate numbers assign``); an account may claim an
    IncomingPhoneNumber only for a number assigned to it, and the loopback
    carrier and the ingress deliver only to such numbers. Without this any
    account could claim any number and receive other accounts' messages to it."""

    __tablename__ = "number_assignments"

    phone_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)


class MediaFetch(Base):
    """The MediaUrls of an outbound message still to be fetched. Written in the
    transaction that creates the ``queued`` message, removed in the one that
    stores its media (or fails it), so a crash in between leaves the row for
    the next process (``messaging/media_fetches.py``). ``claim_token`` says
    which worker holds it; ``claimed_until`` when that claim lapses. No foreign
    key, as for the outbox: deleting the message must not fail on it."""

    __tablename__ = "media_fetches"

    message_sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid)
    channel: Mapped[str] = mapped_column(String(16))
    urls: Mapped[list[str]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(When)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)


class OutboxEntry(Base):
    """An outbound message not yet handed to its carrier. Written in the
    transaction that creates the message, removed once the carrier has taken
    it, so a crash in between leaves the row for the next process to claim
    (``carriers/outbox.py``). No foreign key: deleting a queued message must
    not fail on it; the dispatcher drops rows whose message is gone."""

    __tablename__ = "outbox"

    message_sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(When)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)


class ServerProcess(Base):
    """A running server process, renewed every ``MEDIAGATE_PROCESS_HEARTBEAT``
    seconds (``cluster/processes.py``). It is how a process learns that another
    one shares its database (possibly on another machine), which without Redis
    would split every rate limit; and it tells an operator what is running."""

    __tablename__ = "processes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    shared_state: Mapped[bool] = mapped_column(Boolean)  # runs with MEDIAGATE_REDIS_URL
    date_started: Mapped[datetime] = mapped_column(When, default=stamp)
    heartbeat_at: Mapped[datetime] = mapped_column(When, default=stamp)


class AccountQuota(Base):
    """An operator's per-account override of the deployment's quotas
    (``MEDIAGATE_QUOTA_*``). ``None``: the deployment default; ``0``: no limit
    for this account; ``n``: this limit (``accounts/quotas.py``)."""

    __tablename__ = "account_quotas"

    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), primary_key=True)
    max_bytes: Mapped[int | None] = mapped_column(BigInteger)
    max_media: Mapped[int | None] = mapped_column(BigInteger)
    ingest_per_hour: Mapped[int | None] = mapped_column(BigInteger)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class AccountUsage(Base):
    """What one account stores now: changed in SQL (``x = x + n``) in the same
    transaction that writes or deletes its media rows, so concurrent creates and
    deletes cannot lose an update, and a quota check is one conditional UPDATE."""

    __tablename__ = "account_usage"

    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), primary_key=True)
    bytes_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    media_count: Mapped[int] = mapped_column(BigInteger, default=0)


class AccountDelivery(Base):
    """How the content URL hands over one account's media: ``direct`` answers
    the bytes itself instead of a 307 to the media host (``api/media_direct.py``)."""

    __tablename__ = "account_delivery"

    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), primary_key=True)
    direct: Mapped[bool] = mapped_column(Boolean, default=False)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class RetentionRule(Base):
    """An account's retention rule (``retention/rules.py``): when its media
    are deleted. A missing row means the deployment's default; every field
    empty/false means "keep" (still capped by the deployment's maximum)."""

    __tablename__ = "retention_rules"

    account_sid: Mapped[str] = mapped_column(Sid, ForeignKey("accounts.sid"), primary_key=True)
    days_after_creation: Mapped[int | None] = mapped_column(Integer)
    days_after_last_access: Mapped[int | None] = mapped_column(Integer)
    after_first_download: Mapped[bool] = mapped_column(Boolean, default=False)
    after_webhook_delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    date_created: Mapped[datetime] = mapped_column(When, default=stamp)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp, onupdate=stamp)


class MediaActivity(Base):
    """When a media was last fetched and first downloaded. Written in batches
    off the request path (``media/access.py``), never by a request; a media
    with no row has not been fetched since this table exists. No foreign key:
    a flush may land just after the media was deleted (the row is then dropped
    by the next retention pass)."""

    __tablename__ = "media_activity"

    media_sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    account_sid: Mapped[str] = mapped_column(Sid, index=True)
    last_accessed: Mapped[datetime] = mapped_column(When)
    first_downloaded: Mapped[datetime | None] = mapped_column(When)


class MediaAccessEvent(Base):
    """One content-URL decision or media-host delivery (media/access_audit.py),
    or ``count`` identical ones in the same second: ``date_created`` is the
    first, ``date_updated`` the last (null on rows of single accesses written
    before counts existed).

    Written in batches off the request path. Never holds a secret: the
    credential is named by its sid (an auth token by its account sid, a
    signed URL by its signing key id), never a token, signature or URL."""

    __tablename__ = "media_access_events"
    __table_args__ = (
        Index("ix_access_account_created", "account_sid", "date_created", "sid"),
        Index("ix_access_media_created", "media_sid", "date_created", "sid"),
    )

    sid: Mapped[str] = mapped_column(Sid, primary_key=True)
    # No foreign keys: refusals are recorded for whatever sids a request named,
    # and events outlive a deleted media (that is when "who fetched it" matters).
    account_sid: Mapped[str] = mapped_column(Sid)
    media_sid: Mapped[str] = mapped_column(Sid)
    host: Mapped[str] = mapped_column(String(16))  # "api" | "secure" | "public"
    method: Mapped[str] = mapped_column(String(8))
    credential_kind: Mapped[str] = mapped_column(String(24))  # auth_token, api_key, signed_url, none
    credential_sid: Mapped[str | None] = mapped_column(String(34))
    allowed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(24))  # signed, presigned, public, served, denied, revoked...
    client_ip: Mapped[str | None] = mapped_column(String(64))
    date_created: Mapped[datetime] = mapped_column(When, default=stamp, index=True)
    count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    date_updated: Mapped[datetime | None] = mapped_column(When)


class SealedObject(Base):
    """The data key of one object stored encrypted (``storage/sealed.py``),
    wrapped by the master key ``key_id``; with the chunk size and the plaintext
    size. Keyed by storage key rather than media sid: the health probe and
    every copy (loopback, gc) go through the store, not through media rows.
    Rotating master keys rewrites ``key_id`` and ``wrapped_key`` only.
    An object without a row is plaintext (stored before encryption was on)."""

    __tablename__ = "sealed_objects"

    storage_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped_key: Mapped[str] = mapped_column(String(128))  # URL-safe base64: nonce + sealed key + tag
    chunk_size: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    date_updated: Mapped[datetime] = mapped_column(When, default=stamp)


class InvalidationRecord(Base):
    """A change that makes remembered answers stale ("credential SK..., drop
    it"), written by the process that made it (``cluster/journal.py``). The
    database, not Redis, is the record every process reads: each polls for ids
    above the last one it applied, so a change reaches every process within
    ``MEDIAGATE_COHERENCE_BOUND`` whatever Redis does. Pruned by age."""

    __tablename__ = "invalidations"
    # Ids never reused on SQLite either: a poller's "above the last id" must hold.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(64))
    date_created: Mapped[datetime] = mapped_column(When, default=stamp, index=True)
