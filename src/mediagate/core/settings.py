"""One typed settings object, read once from ``MEDIAGATE_*`` at start-up.

Derived URLs (the two media hosts) default to path prefixes of the API's own
base URL so that the embedded default works from a single port; production
deployments point them at their own hostnames.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("mediagate")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
SECURE_PREFIX = "/_media/secure"
PUBLIC_PREFIX = "/_media/public"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIAGATE_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    secure_media_url: str = ""
    public_media_url: str = ""
    signed_url_ttl: int = Field(default=14400, ge=1, le=7 * 24 * 3600)
    # How often each process re-reads signing keys, i.e. how long a key
    # retired by another process may still verify here.
    signing_key_refresh: float = Field(default=5.0, gt=0, le=300)
    allow_private_media_urls: bool = False
    secret_key: str = ""
    # Upper bound on a single stored object, whatever the channel allows.
    max_media_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    log_level: str = "info"
    # Webhook retries wait base, 2*base, 4*base, ... (capped at 10 minutes) between attempts.
    webhook_retry_base: float = Field(default=1.0, gt=0, le=600)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    # Web console sessions: signed out after this long without a request, and
    # after this long in any case.
    console_idle_timeout: int = Field(default=30 * 60, ge=1)
    console_session_max_age: int = Field(default=12 * 3600, ge=1)
    # Zero-copy delivery through a front nginx (the X-Accel-Redirect pattern).
    # When set (e.g. "/_protected"), the media hosts still check the signature,
    # expiry and the media row, then answer with all their headers plus
    # ``X-Accel-Redirect: {prefix}/{path under the media dir}`` and no body; the
    # front nginx sends the file from an ``internal`` location with sendfile
    # (Range and HEAD included). Python never touches the bytes, which granian
    # otherwise copies through user space (bench/analysis.md, target 2).
    # Empty = off: mediagate sends the bytes itself. Only enable it behind such
    # an nginx: a client talking to mediagate directly would get empty bodies.
    accel_redirect_prefix: str = ""
    # Number ownership (docs/security.md#number-ownership). "assigned": an account
    # may claim only numbers an operator assigned to it (`mediagate numbers
    # assign`). "open": development only; the first account to claim an
    # unassigned number is assigned it, which lets any account take any free
    # number (logged loudly at start).
    number_pool: Literal["assigned", "open"] = "assigned"

    # --- Shared counters and client addresses (console sign-in rate limits) ---
    # Redis for state every process must share (today: sign-in rate-limit
    # counters), e.g. "redis://127.0.0.1:6379/0". Empty: in memory, per process.
    redis_url: str = ""
    # Prefix of every key mediagate writes to that Redis (several deployments may share one).
    redis_key_prefix: str = Field(default="mediagate", min_length=1, max_length=64)
    # Connect and reply timeout of every Redis client (core/redis_clients.py), in
    # seconds: a Redis that stops answering fails the requests that need it
    # (503 + Retry-After, sign-in "try again") within this, or twice it on a new
    # connection, instead of holding them. Not the invalidation channel's own check.
    redis_timeout: float = Field(default=1.0, ge=0.05, le=30)
    # The invalidation channel's liveness check (mediagate.cluster.invalidation):
    # a PING on the subscription every `redis_health_interval` seconds whose PONG
    # must arrive within `redis_health_timeout`. A Redis that stops answering
    # without closing the connection (frozen, partitioned) is noticed within
    # their sum, and every process then stops answering from memory until it
    # has resubscribed. The timeout is also the publisher's socket deadline.
    redis_health_interval: float = Field(default=0.5, gt=0, le=30)
    redis_health_timeout: float = Field(default=1.0, gt=0, le=30)
    # The coherence bound (mediagate.cluster.coherence), which holds whatever Redis
    # does: every change that makes remembered answers stale is written to the
    # database's `invalidations` table, and every server process reads it every
    # `coherence_poll_interval` seconds. A process whose last successful read
    # started more than `coherence_bound` seconds ago answers nothing from memory
    # (it asks the database, or answers 503 when that is down too). So every
    # change is refused or reflected everywhere within `coherence_bound`.
    coherence_poll_interval: float = Field(default=0.5, gt=0, le=30)
    coherence_bound: float = Field(default=2.0, gt=0, le=60)
    # How long the records are kept (seconds): far longer than any poll gap.
    invalidation_retention: float = Field(default=3600.0, ge=60, le=7 * 86400)
    # Proxies whose X-Forwarded-For / Forwarded / X-Forwarded-Proto are believed
    # (comma-separated IPs or CIDRs, e.g. "10.0.0.0/8,127.0.0.1"). Empty: none;
    # the client is the TCP peer. See mediagate.core.proxies and docs/security.md.
    trusted_proxies: str = ""

    # --- Fairness of background work (issues 8.2, 9.5, 9.7) ---
    # MediaUrl fetches run on their own thread limiter, not on the 40 threads every
    # sync API route shares, so slow media hosts cannot starve the API. Per process:
    # at most ``fetch_concurrency`` messages fetch media at once, at most
    # ``fetch_concurrency_per_account`` of them for one account; a create beyond
    # either bound is refused with 429 / 20429 and stores nothing.
    # ``fetch_deadline`` bounds the fetch of all the media of one message (seconds);
    # past it the message fails with 11200.
    fetch_concurrency: int = Field(default=16, ge=1, le=1024)
    fetch_concurrency_per_account: int = Field(default=4, ge=1, le=1024)
    fetch_deadline: float = Field(default=60.0, gt=0, le=3600)
    # Webhook sender threads per process, and how many of them one account's
    # deliveries may hold at once (so a hanging endpoint delays only its own account).
    webhook_senders: int = Field(default=8, ge=1, le=256)
    webhook_senders_per_account: int = Field(default=2, ge=1, le=256)

    # --- Leases and intervals of the background work (issue 21: settings, not constants) ---
    # Tests shorten them instead of waiting; the defaults are what production runs.
    # One webhook request (connect, write and read each) gives up after this long.
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)
    # A delivery claimed by a process that then stops renewing the claim (it was
    # killed) is retried by another process once the lease ends. A live worker
    # renews the claims of its sends every webhook_lease / 3, so a slow send
    # keeps its claim: the lease only bounds the delay a crash costs.
    webhook_lease: float = Field(default=15.0, ge=0.3, le=3600)
    # The longest wait between two attempts of one delivery (the doubling of
    # webhook_retry_base stops here).
    webhook_max_backoff: float = Field(default=600.0, gt=0, le=86400)
    # How often an idle webhook worker looks for due deliveries (a finished send
    # wakes it at once).
    webhook_poll_interval: float = Field(default=0.5, gt=0, le=60)
    # The carrier outbox (messaging/outbox.py): a hand-off claimed by a process
    # that died is dispatched again after this lease; idle workers poll this often.
    outbox_lease: float = Field(default=30.0, ge=0.3, le=3600)
    outbox_poll_interval: float = Field(default=0.5, gt=0, le=60)
    # MediaUrl fetches run after the create has answered (messaging/media_fetches.py).
    # A fetch claimed by a process that died is taken up by another after this
    # lease; a live worker renews the claims of its fetches on every pass, so the
    # lease only bounds the delay a crash costs, never a slow fetch. Idle workers
    # look for new fetches this often.
    media_fetch_lease: float = Field(default=30.0, ge=0.3, le=3600)
    media_fetch_poll_interval: float = Field(default=0.2, gt=0, le=60)
    # A fetch whose process died this many times is failed (11200) instead of
    # taking down the next process too.
    media_fetch_max_attempts: int = Field(default=5, ge=1, le=100)
    # With MEDIAGATE_REDIS_URL: a fetch or webhook-sender slot counted across
    # processes is held under this lease, renewed every lease / 3 while its work
    # runs; the slots of a killed process free themselves when it ends.
    shared_slot_lease: float = Field(default=15.0, ge=0.3, le=3600)

    # Reliability: bounds on every wait for the database, so that a stalled or
    # unreachable database fails the requests that need it with a 503 after a
    # few seconds instead of holding them (and their threads) unbounded.
    # statement: PostgreSQL statement_timeout and lock_timeout, SQLite's busy
    # timeout; connect: PostgreSQL connect_timeout; pool: the wait for a pooled
    # connection.
    db_statement_timeout: float = Field(default=5.0, gt=0, le=3600)
    db_connect_timeout: float = Field(default=5.0, gt=0, le=600)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=600)
    # Threads reserved for the hot paths (content redirect, media hosts), so a
    # burst on other routes cannot starve them, nor they the others.
    hot_path_threads: int = Field(default=16, ge=1, le=256)
    # Scheduled garbage collection in the server: every gc_interval seconds
    # (0 = never), objects without a media row and temp files of interrupted
    # writes older than gc_grace seconds are removed. The grace must exceed the
    # longest possible ingest (10 URLs x 60 s fetch timeout), so that neither an
    # in-flight write nor an object whose row commits later is ever removed.
    gc_interval: float = Field(default=3600.0, ge=0)
    gc_grace: float = Field(default=3600.0, ge=0)
    # Retention (docs/retention.md). The default: media of an account with no
    # rule of its own are deleted this many days after creation (0 = kept).
    # The maximum: no account's days may exceed it, and when set every media is
    # deleted at the latest this many days after creation (0 = no maximum).
    retention_default_days: int = Field(default=0, ge=0, le=36500)
    retention_max_days: int = Field(default=0, ge=0, le=36500)
    # The server applies the rules every retention_interval seconds (0 = never;
    # `mediagate retention run` still works), in committed batches of this size.
    retention_interval: float = Field(default=600.0, ge=0)
    retention_batch: int = Field(default=200, ge=1, le=10_000)
    # Fetches (last access, first download) are counted in memory and written
    # every access_flush_interval seconds; at most access_buffer_max distinct
    # media are held between two writes (beyond that a write is started early).
    access_flush_interval: float = Field(default=5.0, gt=0, le=3600)
    access_buffer_max: int = Field(default=50_000, ge=1, le=10_000_000)
    # Durable access audit (media/access_audit.py): events wait in a bounded
    # in-memory queue (full = dropped and counted, never a blocked request) and
    # are written every flush interval; kept for retention_days (0 = forever).
    # 100k: one flush interval of the hot paths at full speed (~30k req/s per
    # process, bench/) with room to spare; about 15 MB when full.
    access_audit_queue_size: int = Field(default=100_000, ge=1, le=1_000_000)
    access_audit_flush_interval: float = Field(default=1.0, gt=0, le=60)
    access_audit_retention_days: int = Field(default=90, ge=0, le=3650)
    # How often each process deletes audit events older than the retention days.
    access_audit_retention_interval: float = Field(default=3600.0, gt=0)

    # --- Observability (docs/observability.md) ---
    # ``text`` is for people at a terminal; ``json`` writes one JSON object per
    # line for log shippers.
    log_format: Literal["text", "json"] = "text"
    # One access-log line per request (method, route template, status,
    # duration, bytes). Off saves a log write per request on the hot paths.
    access_log: bool = True
    # Bearer token for GET /metrics. Unset, /metrics answers only when the
    # server is bound to loopback and the client is local (SPEC 6).
    metrics_token: str = ""
    # Each /readyz check (database, storage, Redis) gives up after this long.
    readiness_timeout: float = Field(default=2.0, gt=0, le=30)
    # /readyz reports this process not ready when a volume it writes to (the
    # media folder with the local store, SQLite's folder) has less free space
    # than this many bytes: a write there would fail (0 = no check).
    readiness_min_free_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    # (redis_url, above: /readyz checks it too when it is set.)

    # --- Quotas per account (docs/quotas.md) ---
    # Deployment defaults, 0 = no limit; `mediagate accounts quota` overrides them
    # per account. Bytes and media stored are exact across processes (counted in
    # the database); the hourly ingest count is shared through Redis when
    # redis_url is set, and per process otherwise.
    quota_max_bytes: int = Field(default=0, ge=0)
    quota_max_media: int = Field(default=0, ge=0)
    quota_ingest_per_hour: int = Field(default=0, ge=0)
    # How long another process may keep answering the content URL the old way
    # after an account's direct-delivery setting changed (seconds).
    direct_delivery_refresh: float = Field(default=5.0, gt=0, le=300)

    # --- Storage and delivery (issue 11: the storage seam) ---
    # Where media bytes live: empty or ``file:///abs/path`` = the local disk
    # (default ``{data_dir}/media``); ``s3://BUCKET/PREFIX`` = an S3 bucket
    # (credentials from the standard AWS chain: env, profile, instance role).
    storage_url: str = ""
    # S3 endpoint for SeaweedFS/MinIO/..., empty = AWS itself.
    s3_endpoint_url: str = ""
    # How the content URL's 307 delivers secured media: ``edge`` = our secured
    # host (verifies our signature, streams from disk or S3, key-id revocation);
    # ``presign`` = straight to an S3 presigned GET (S3 storage only).
    delivery: Literal["edge", "presign"] = "edge"
    # Deadlines of every object-store call (docs/operations.md, "A frozen or dead
    # object store"), so that a store that stops answering turns the requests
    # that need it into a 503 + Retry-After within a few seconds instead of
    # holding them (and their threads) for the whole outage. connect: the TCP
    # connect; read: the wait for each answer, or each chunk of a body;
    # attempts: tries per call, the first included (standard retry mode, with
    # its backoff of at most 1 s between two). A frozen store fails a call
    # after attempts x read + 1 s at most (defaults: 2 x 2 + 1 = 5 s).
    store_connect_timeout: float = Field(default=2.0, gt=0, le=60)
    store_read_timeout: float = Field(default=2.0, gt=0, le=600)
    store_attempts: int = Field(default=2, ge=1, le=10)
    # Threads of the media hosts' reads from the store (per process), apart
    # from the hot paths' (hot_path_threads): downloads held by a frozen store
    # cannot take the threads that answer the content URL's 307s. A download
    # that finds them all busy waits at most store_queue_timeout seconds, then
    # is answered 503 + Retry-After.
    store_threads: int = Field(default=16, ge=1, le=256)
    store_queue_timeout: float = Field(default=2.0, gt=0, le=60)

    # --- Several processes (issue 11: scale-out; docs/deploy.md) ---
    # What this process runs: ``all`` = the API, both media hosts and the
    # background workers (webhooks, carrier outbox, gc); ``api`` = no background
    # workers; ``worker`` = only the background workers (it still answers
    # /healthz, /readyz and /metrics, and nothing else).
    role: Literal["all", "api", "worker"] = "all"
    # Each server process records itself in the database (``processes``) and
    # renews the record this often; a record not renewed for 3 intervals is dead.
    # Without Redis a second live process on the same database refuses to start.
    process_heartbeat: float = Field(default=5.0, gt=0, le=300)

    # --- Encryption at rest (docs/encryption.md) ---
    # ``on``: new objects are sealed, with ``edge`` delivery, in AES-256-GCM chunks
    # under a data key of their own, wrapped by the active master key; with
    # ``presign`` delivery the S3 store encrypts them itself (SSE-S3). Objects
    # stored before stay readable as they are. ``off``: nothing new is sealed;
    # sealed objects still open while their master keys are configured.
    encryption: Literal["off", "on"] = "off"
    # Master keys ``id:KEY,id2:KEY2`` (KEY: 32 bytes, 64 hex digits or base64).
    # Empty: one key "derived", from MEDIAGATE_SECRET_KEY. Keep retired keys
    # listed until ``mediagate encryption rewrap`` has moved every object off them.
    master_keys: str = ""
    # The id of the master key that wraps new data keys (and rewrap's target);
    # empty = the first key of MEDIAGATE_MASTER_KEYS, or "derived".
    master_key_id: str = ""

    # --- Test mode (docs/test-mode.md): a test double for Twilio media code ---
    # ``/v1/Testing/*`` (clock, faults, journal, reset) exists only with it on;
    # off by default, refused on a non-loopback bind without a bearer token.
    test_mode: bool = False
    test_mode_token: str = ""
    # Accounts, keys, numbers and settings (JSON or TOML) made at start and after each reset.
    seed_file: Path | None = None
    # How many journal entries test mode keeps in memory (the oldest go first).
    test_journal_size: int = Field(default=10_000, ge=1, le=1_000_000)

    @field_validator("public_url", "secure_media_url", "public_media_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"must be an http(s) base URL without query or fragment, got {value!r}")
        return value.rstrip("/")

    @field_validator("master_keys")
    @classmethod
    def _valid_master_keys(cls, value: str) -> str:
        from mediagate.core.crypto import parse_master_keys

        parse_master_keys(value)  # raises ValueError naming the bad key (never its value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _valid_redis_url(cls, value: str) -> str:
        # What every client accepts, asked of the factory that builds them
        # (core/redis_clients.py). redis+sentinel was accepted once, but only
        # ``limits`` could use it: the other clients refused it at start.
        if not value:
            return value
        from mediagate.core.redis_clients import redis_py_url

        try:
            redis_py_url(value)
        except ValueError:
            raise ValueError(
                f"must be a redis://, rediss:// or redis+unix:// URL, got scheme {urlsplit(value).scheme!r}"
            ) from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_trusted_proxies(cls, value: str) -> str:
        from mediagate.core.proxies import parse_networks

        parse_networks(value)  # raises ValueError naming the bad item
        return value

    @field_validator("log_level")
    @classmethod
    def _valid_log_level(cls, value: str) -> str:
        # logging's names, lower-case; a typo used to surface as a traceback from logging.
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("accel_redirect_prefix")
    @classmethod
    def _valid_accel_prefix(cls, value: str) -> str:
        if not value:
            return value
        prefix = value.rstrip("/")
        if not prefix.startswith("/") or any(c in prefix for c in "?#% \t\r\n"):
            raise ValueError(f"must be an absolute path prefix such as /_protected, got {value!r}")
        return prefix

    @field_validator("metrics_token")
    @classmethod
    def _valid_metrics_token(cls, value: str) -> str:
        # A short token is guessable and whitespace would never survive a header.
        if value and (len(value) < 16 or any(c.isspace() for c in value) or not value.isprintable()):
            raise ValueError("must be at least 16 printable characters without spaces")
        return value

    @field_validator("test_mode_token")
    @classmethod
    def _valid_test_mode_token(cls, value: str) -> str:
        if value and (len(value) < 16 or any(c.isspace() for c in value) or not value.isprintable()):
            raise ValueError("must be at least 16 printable characters without spaces")
        return value

    @field_validator("storage_url")
    @classmethod
    def _valid_storage_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme == "s3" and parts.netloc and not parts.query and not parts.fragment:
            return value.rstrip("/")
        if parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
            return value
        raise ValueError(f"must be s3://BUCKET[/PREFIX] or file:///absolute/path, got {value!r}")

    @field_validator("s3_endpoint_url")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _coherence(self) -> Settings:
        # A poll must fit inside the bound with room for the query itself.
        if self.coherence_bound < 2 * self.coherence_poll_interval:
            raise ValueError(
                "MEDIAGATE_COHERENCE_BOUND must be at least twice MEDIAGATE_COHERENCE_POLL_INTERVAL"
            )
        return self

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.public_url:
            shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
            self.public_url = f"http://{shown}:{self.port}"
        if not self.secure_media_url:
            self.secure_media_url = self.public_url + SECURE_PREFIX
        if not self.public_media_url:
            self.public_media_url = self.public_url + PUBLIC_PREFIX
        if self.secure_media_url == self.public_media_url:
            raise ValueError("MEDIAGATE_SECURE_MEDIA_URL and MEDIAGATE_PUBLIC_MEDIA_URL must differ")
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'mediagate.db').resolve()}"
        if self.retention_max_days and self.retention_default_days > self.retention_max_days:
            raise ValueError("MEDIAGATE_RETENTION_DEFAULT_DAYS must not exceed MEDIAGATE_RETENTION_MAX_DAYS")
        if self.delivery == "presign" and not self.uses_s3:
            raise ValueError("MEDIAGATE_DELIVERY=presign needs MEDIAGATE_STORAGE_URL=s3://BUCKET/...")
        return self

    @property
    def uses_s3(self) -> bool:
        return self.storage_url.startswith("s3://")

    def startup_problem(self) -> str | None:
        """A one-line reason the server must not start, or ``None``.

        With S3 or a database server (anything but SQLite) the deployment is
        meant to be shared by several processes or hosts; a key file generated in one host's data folder
        would give each its own master secret (sealed credentials and signed
        URLs unreadable elsewhere), so the secret must be configured."""
        if self.test_mode and not _loopback(self.host) and not self.test_mode_token:
            return (
                f"MEDIAGATE_TEST_MODE=true on a non-loopback bind ({self.host}) needs "
                "MEDIAGATE_TEST_MODE_TOKEN: anyone who reaches the port could reset the server"
            )
        if self.seed_file is not None and not self.test_mode:
            return (
                "MEDIAGATE_SEED_FILE is for test mode only (fixed credentials): set MEDIAGATE_TEST_MODE=true"
            )
        shared = self.uses_s3 or not self.database_url.startswith("sqlite")
        if shared and not self.secret_key:
            what = "S3 storage" if self.uses_s3 else "a database server (not SQLite)"
            return (
                f"MEDIAGATE_SECRET_KEY is required with {what}: every process must share one master "
                "secret (generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return None

    def multi_process_problem(self, workers: int) -> str | None:
        """A one-line reason why ``workers`` processes must not run, or ``None``:
        without Redis every process keeps its own rate-limit counters and
        concurrency shares, so N processes would allow N times the limits. Test
        mode's clock, faults and journal live in one process's memory."""
        if workers > 1 and self.test_mode:
            return (
                "test mode runs one process (its clock, faults and journal live in memory): use --workers 1"
            )
        if workers > 1 and not self.redis_url:
            return (
                f"--workers {workers} needs MEDIAGATE_REDIS_URL: without Redis each process counts "
                "rate limits and fetch/webhook shares on its own (see docs/deploy.md)"
            )
        return None

    @property
    def media_dir(self) -> Path:
        if self.storage_url.startswith("file://"):
            return Path(urlsplit(self.storage_url).path)
        return self.data_dir / "media"

    def warn_if_unsafe(self) -> None:
        if self.test_mode:
            guarded = "behind MEDIAGATE_TEST_MODE_TOKEN" if self.test_mode_token else "open on loopback"
            log.warning(
                "!!! TEST MODE is on (MEDIAGATE_TEST_MODE): /v1/Testing/* can reset every account, move the "
                "clock and inject faults (%s). A test double only; never run it with real data. !!!",
                guarded,
            )
        if self.number_pool == "open":
            log.warning(
                "!!! MEDIAGATE_NUMBER_POOL=open: any account may claim any unassigned phone number and "
                "receive what other accounts send to it. For local development only. !!!"
            )
        if self.allow_private_media_urls:
            log.warning(
                "!!! MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS=true: MediaUrl may point at loopback and private "
                "addresses. This is for local development and tests only; never run it in production. !!!"
            )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- Reading the environment for the CLI and the server --------------------------------------
# A bad value stops with one line that names the variable and what it accepts
# (not pydantic's multi-line report or a traceback), and a MEDIAGATE_* name that
# is no setting (a typo, so the setting silently keeps its default) is warned about.

ENV_PREFIX = "MEDIAGATE_"
# MEDIAGATE_* variables read by something other than Settings.
OTHER_VARIABLES = frozenset({"MEDIAGATE_TWILIO_OAI"})


class SettingsError(Exception):
    """A setting from the environment that cannot be used; the message is one line."""


def _accepts(name: str) -> str:
    field = Settings.model_fields[name]
    bounds = {}
    for rule in field.metadata:
        for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(rule, attr, None) is not None:
                bounds[word] = getattr(rule, attr)
    kind = getattr(field.annotation, "__name__", str(field.annotation))
    words = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "str": "text",
        "Path": "a path",
    }
    text = words.get(kind, kind)
    if bounds:
        text += " " + " and ".join(f"{op} {value}" for op, value in bounds.items())
    return text


def _describe(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ()
    if not loc:  # a check across settings (model validator)
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(loc[0])
    variable = ENV_PREFIX + name.upper()
    reason = str(error["msg"]).removeprefix("Value error, ")
    accepts = "" if reason.startswith("must be") else f" (accepts {_accepts(name)})"
    shown = error.get("input")
    value = f"={shown!r}" if isinstance(shown, str) and len(shown) <= 80 else ""
    if name in ("secret_key", "master_keys", "test_mode_token"):
        value = ""  # never echo a secret
    return f"{variable}{value} is not valid: {reason}{accepts}"


def load(**overrides: Any) -> Settings:
    """``Settings()`` from the environment, with ``SettingsError`` instead of pydantic's report."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``MEDIAGATE_*`` name that is no setting, with the nearest valid one."""
    valid = [name.upper() for name in Settings.model_fields]
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in OTHER_VARIABLES:
            continue
        suffix = name.removeprefix(ENV_PREFIX).upper()
        if suffix in valid:
            continue
        # Compared without the shared prefix, which would make every name look close.
        near = difflib.get_close_matches(suffix, valid, n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{near[0]}?" if near else ""
        warnings.append(f"{name} is not a mediagate setting and is ignored{hint}")
    return warnings
