"""The cross-process invalidation channel: "this credential / account / media /
signing key changed, drop what you remember about it".

Every process keeps answers in memory (``media/hotcache.py``, the signer's
keys, the secured host's lookups). The ONE service function behind each
change calls ``publish(topic, key)`` after its transaction commits:

* the publishing process runs its handlers synchronously, inside ``publish``,
  so the change is refused by this process on its very next request;
* with ``MEDIAGATE_REDIS_URL`` the message also goes out on Redis pub/sub
  (channel ``{MEDIAGATE_REDIS_KEY_PREFIX}:invalidate``), and every other
  process runs its handlers on its listener thread, milliseconds later
  (``docs/deploy.md``, "Consistency bound");
* without Redis the bus is in-process only. Changes made by another process
  (a CLI command, a second server) then reach this one through the caches'
  short maximum age (``hotcache.LOCAL_MAX_AGE``), not through the bus.

Pub/sub is fire-and-forget: a message sent while a subscriber is
disconnected is lost. So while the listener is not subscribed
``caching_allowed`` is False (callers bypass their caches and read the
database), and on every (re)subscription the reset handlers drop everything.

A Redis that stops answering without closing the connection (a frozen process,
a paused VM, a black-holed route) raises nothing on a subscriber that only
waits: redis-py's own ``check_health`` sends a PING and never waits for the
PONG. So the listener confirms liveness itself: every ``health_interval`` it
sends a PING of its own on the subscription and requires the PONG within
``health_timeout``. Redis writes a PONG to the subscriber's connection after
every message published before it, so a PONG for a PING sent at ``t`` proves
that nothing published before ``t`` is still missing. Caching is allowed only
until the next PING's answer is due (``t + interval + timeout``): the check is
the clock's, made on every memo lookup, so it holds even if the listener
thread is late. When the answer does not come, the channel is lost: caches
off, reset, reconnect, and a reset again on resubscription.

Pub/sub alone cannot promise a bound: a publisher cut off from Redis never
sends its message, and a CLI run without ``MEDIAGATE_REDIS_URL`` has no Redis
to send to, while every subscriber stays healthy. So ``publish`` also writes
the change to the database (``cluster/journal.py``) before Redis, and a server
process (``cluster/coherence.py``, started by ``vouch_by``) reads those
records on a short interval: from then on ``caching_allowed`` is the poller's
word, not the subscription's, and Redis only makes a change arrive sooner.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mediagate.core import redis_clients

if TYPE_CHECKING:
    from mediagate.cluster.journal import Journal

log = logging.getLogger("mediagate.invalidation")

# The topics, and what their key is.
CREDENTIAL = "credential"  # an auth token's account sid (AC...) or an API key sid (SK...)
ACCOUNT = "account"  # an account sid: status changed (suspended, closed, reactivated) or media re-secured
SETTING = "setting"  # an account sid: Enforce HTTP Auth on Media URLs changed
MEDIA = "media"  # a media sid: deleted
SIGNING_KEY = "signing_key"  # a signing key id: retired, or a new key published
DELIVERY = "delivery"  # an account sid: its direct-delivery setting changed (media/direct_delivery.py)

Handler = Callable[[str], None]


class ChannelSilent(Exception):
    """Redis did not answer the listener's PING (or SUBSCRIBE) in time."""


class Invalidation:
    def __init__(
        self,
        redis_url: str = "",
        key_prefix: str = "mediagate",
        *,
        health_interval: float = 0.5,
        health_timeout: float = 1.0,
        journal: Journal | None = None,
    ) -> None:
        self.redis_url = redis_url
        # The durable record every process reads (None: tests of the Redis channel alone).
        self.journal = journal
        self.channel = f"{key_prefix}:invalidate"
        # Settings (MEDIAGATE_REDIS_HEALTH_INTERVAL / _TIMEOUT): a silent break is
        # noticed within ``bound`` seconds, the promise docs/deploy.md makes.
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.bound = health_interval + health_timeout
        # Our own messages come back to us through Redis; they were applied in publish().
        self._origin = f"{os.getpid()}-{id(self):x}"
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._resets: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._publisher: Any = None  # redis.Redis, created on first publish
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # With Redis: the monotonic time until which this process is known to have
        # every message (0: not subscribed). Written by the listener thread only; a
        # float store is atomic, so readers need no lock.
        self._current_until = 0.0
        self.received = 0  # messages from other processes (tests, metrics)
        # Once a poller vouches (``vouch_by``): caching is allowed while its clock
        # reads less than ``_vouched_until`` (cluster/coherence.py).
        self._vouched = False
        self._vouch_clock: Callable[[], float] = time.monotonic
        self._vouched_until = 0.0

    @property
    def caching_allowed(self) -> bool:
        """False while changes could be missed. In a server process: its last
        successful read of the invalidation records started more than the
        coherence bound ago. Otherwise (no poller: a CLI, tests of the channel):
        Redis configured and either not subscribed or its last PONG too old to
        vouch for the present."""
        if self._vouched:
            return self._vouch_clock() < self._vouched_until
        # In-process: nothing can be missed.
        return not self.redis_url or time.monotonic() < self._current_until

    def vouch_by(self, clock: Callable[[], float]) -> None:
        """Hand ``caching_allowed`` to a poller of the durable record, measured on
        ``clock``; nothing is vouched for until its first ``confirm_until``."""
        self._vouched_until = 0.0
        self._vouch_clock = clock
        self._vouched = True

    def confirm_until(self, deadline: float) -> None:
        self._vouched_until = deadline

    def apply(self, topic: str, key: str) -> None:
        """Run this process's handlers for a change read from the durable record."""
        self._dispatch(topic, key)

    def reset(self) -> None:
        """Drop everything remembered (run the reset handlers)."""
        self._reset()

    @property
    def shared(self) -> bool:
        return bool(self.redis_url)

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[topic].append(handler)

    def on_reset(self, handler: Callable[[], None]) -> None:
        """``handler`` runs whenever messages may have been lost: drop everything."""
        with self._lock:
            self._resets.append(handler)

    def publish(self, topic: str, key: str) -> None:
        """Apply here now, then tell every other process. Blocking (a Redis
        round trip, at most about two health timeouts when Redis is unreachable):
        service code calls it off the event loop."""
        self.publish_many(topic, [key])

    def publish_many(self, topic: str, keys: Sequence[str]) -> None:
        """``publish`` for each key, with one Redis round trip for them all: a
        batch (a retention pass, a message's media) waits out at most one Redis
        deadline when Redis does not answer, not one per key."""
        for key in keys:
            self._dispatch(topic, key)
        if not keys:
            return
        if self.journal is not None:
            # First the record every process reads whatever Redis does; Redis
            # (below) only makes the change arrive sooner.
            self._record(topic, keys)
        if not self.redis_url:
            return
        payloads = [json.dumps({"t": topic, "k": key, "o": self._origin}) for key in keys]
        for attempt in (1, 2):
            try:
                pipe = self._redis().pipeline(transaction=False)
                for payload in payloads:
                    pipe.publish(self.channel, payload)
                pipe.execute()
                return
            except Exception as exc:  # redis.RedisError, OSError
                # Drop the connection: a second attempt reconnects.
                self._publisher = None
                # A closed connection (Redis restarted, idle link cut) deserves one
                # fresh try; a timeout means Redis is not answering, and a second
                # wait would only hold the request longer.
                if attempt == 2 or _is_timeout(exc):
                    # Other processes learn it from the durable record instead, within
                    # the coherence bound (docs/deploy.md, "Consistency bound").
                    what = keys[0] if len(keys) == 1 else f"{keys[0]} and {len(keys) - 1} more"
                    log.error(
                        "invalidation of %s %s could not be published (%s)", topic, what, type(exc).__name__
                    )
                    return

    def _record(self, topic: str, keys: Sequence[str]) -> None:
        assert self.journal is not None
        for attempt in (1, 2):
            try:
                self.journal.record(topic, keys)
                return
            except Exception as exc:  # the database just committed the change; one more try
                if attempt == 2:
                    what = keys[0] if len(keys) == 1 else f"{keys[0]} and {len(keys) - 1} more"
                    log.error(
                        "invalidation of %s %s could not be recorded (%s): other processes may "
                        "answer from memory until its maximum age",
                        topic,
                        what,
                        type(exc).__name__,
                    )

    # ------------------------------------------------------------------ listener

    def start(self) -> None:
        """Listen for other processes' messages (servers only; a CLI just publishes)."""
        if not self.redis_url or self._thread is not None:
            return
        self._current_until = 0.0
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="invalidation", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._publisher is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._publisher.close()
            self._publisher = None

    def wait_subscribed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.subscribed and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.subscribed

    @property
    def subscribed(self) -> bool:
        """Redis delivers other processes' messages now (always, in-process)."""
        return not self.redis_url or time.monotonic() < self._current_until

    def _client(self, **options: Any) -> Any:
        # The factory's client: no retries inside redis-py (its default retries with
        # backoff would make a publish wait several timeouts, and a pub/sub
        # reconnection it made on its own would resubscribe behind our back), and
        # the health timeout as the deadline of every command.
        return redis_clients.client(self.redis_url, self.health_timeout, **options)

    def _redis(self) -> Any:
        if self._publisher is None:
            self._publisher = self._client()
        return self._publisher

    def _listen(self) -> None:
        while not self._stop.is_set():
            # redis-py's health check stays off: it sends PINGs it never waits for,
            # and swallows their PONGs; ours are in _follow.
            client = self._client(socket_keepalive=True, health_check_interval=0)
            pubsub = client.pubsub()
            try:
                self._follow(pubsub)
            except Exception as exc:
                # Set only once this attempt was subscribed: "lost" is logged once
                # per outage, not once per failed reconnection.
                was_subscribed = self._current_until > 0.0
                # Caches off before anything else, then drop what they hold: a
                # message may already have been missed.
                self._current_until = 0.0
                if was_subscribed:
                    log.warning(
                        "invalidation channel lost (%s): caches off until resubscribed", type(exc).__name__
                    )
                else:
                    log.debug("invalidation channel still unavailable (%s)", type(exc).__name__)
                if not self._vouched:
                    # With a poller the durable record covers what was missed; emptying
                    # the caches on every failed reconnection would only cost hits.
                    self._reset()
                self._stop.wait(self.health_interval)
            finally:
                self._current_until = 0.0
                for closing in (pubsub.close, client.close):
                    with contextlib.suppress(Exception):  # closing a broken connection
                        closing()

    def _follow(self, pubsub: Any) -> None:
        """Subscribe, then deliver messages and probe liveness until stopped;
        raises when Redis fails or stays silent past the timeout."""
        # The subscription is the first probe: its confirmation is due within the
        # timeout too (a frozen Redis accepts the TCP connection, then says nothing).
        probe_sent = time.monotonic()
        pubsub.subscribe(self.channel)
        expected: str | None = "subscribe"  # the message type answering the outstanding probe
        token = b""
        probes = 0
        while not self._stop.is_set():
            now = time.monotonic()
            if expected is not None:
                due = probe_sent + self.health_timeout
                if now >= due:
                    raise ChannelSilent(f"no answer from Redis in {self.health_timeout:g} s")
            else:
                due = probe_sent + self.health_interval
                if now >= due:
                    probes += 1
                    token = f"mediagate-{self._origin}-{probes}".encode()
                    probe_sent = now
                    pubsub.ping(token)
                    expected = "pong"
                    continue
            message = pubsub.get_message(timeout=max(due - now, 0.001))
            if message is None:
                continue
            kind = message["type"]
            if kind == "subscribe":
                # From now on nothing is missed; what happened before is unknown
                # (and a resubscription means a gap), so forget it all first
                # (unless the durable poller covers the gap).
                if not self._vouched:
                    self._reset()
                if expected == "subscribe":
                    expected = None
                    self._current_until = probe_sent + self.bound
                    log.info("invalidation channel subscribed")
            elif kind == "pong" and expected == "pong" and message["data"] == token:
                if time.monotonic() >= self._current_until:
                    # Too late: memos already stopped answering, and a publisher may
                    # have given up on a message meanwhile. Treat it as the loss it
                    # was, so that caching resumes only after a reset.
                    raise ChannelSilent(f"Redis answered after {self.bound:g} s")
                # Every message published before probe_sent has arrived (and was
                # dispatched, in order, above): current until the next probe is due.
                expected = None
                self._current_until = probe_sent + self.bound
            elif kind == "message":
                self._receive(message["data"])

    def _receive(self, data: bytes) -> None:
        try:
            decoded = json.loads(data)
            topic, key, origin = decoded["t"], decoded["k"], decoded["o"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed invalidation message")
            return
        if origin == self._origin:
            return
        self.received += 1
        self._dispatch(str(topic), str(key))

    def _dispatch(self, topic: str, key: str) -> None:
        with self._lock:
            handlers = list(self._handlers.get(topic, ()))
        for handler in handlers:
            try:
                handler(key)
            except Exception:
                # One broken handler must not keep the others' caches stale.
                log.exception("invalidation handler for %s failed", topic)

    def _reset(self) -> None:
        with self._lock:
            resets = list(self._resets)
        for reset in resets:
            try:
                reset()
            except Exception:
                log.exception("invalidation reset handler failed")


def _is_timeout(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, (redis.TimeoutError, TimeoutError))
