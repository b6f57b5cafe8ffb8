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
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger("mediagate.cluster.invalidation")

# The topics, and what their key is.
CREDENTIAL = "credential"  # an auth token's account sid (AC...) or an API key sid (SK...)
ACCOUNT = "account"  # an account sid: status changed (suspended, closed, reactivated) or media re-secured
SETTING = "setting"  # an account sid: Enforce HTTP Auth on Media URLs changed
MEDIA = "media"  # a media sid: deleted
SIGNING_KEY = "signing_key"  # a signing key id: retired, or a new key published

Handler = Callable[[str], None]

# How often the listener pings Redis while idle, and how long a reply may take:
# a silently dead connection (no RST) is noticed within about their sum.
HEALTH_CHECK_SECONDS = 0.5
SOCKET_TIMEOUT = 1.0
RETRY_SECONDS = 0.5


class Invalidation:
    def __init__(self, redis_url: str = "", key_prefix: str = "mediagate") -> None:
        self.redis_url = redis_url
        self.channel = f"{key_prefix}:invalidate"
        # Our own messages come back to us through Redis; they were applied in publish().
        self._origin = f"{os.getpid()}-{id(self):x}"
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._resets: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._publisher: Any = None  # redis.Redis, created on first publish
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # In-process: nothing can be missed. With Redis: only while subscribed.
        self._subscribed = not redis_url
        self.received = 0  # messages from other processes (tests, metrics)

    @property
    def caching_allowed(self) -> bool:
        """False while messages could be missed (Redis configured, not subscribed)."""
        return self._subscribed

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
        round trip): service code calls it off the event loop."""
        self._dispatch(topic, key)
        if not self.redis_url:
            return
        payload = json.dumps({"t": topic, "k": key, "o": self._origin})
        for attempt in (1, 2):
            try:
                self._redis().publish(self.channel, payload)
                return
            except Exception as exc:  # redis.RedisError, OSError
                # Drop the connection: the second attempt reconnects.
                self._publisher = None
                if attempt == 2:
                    # Other processes fall back on their caches' maximum age.
                    log.error(
                        "invalidation of %s %s could not be published (%s)", topic, key, type(exc).__name__
                    )

    # ------------------------------------------------------------------ listener

    def start(self) -> None:
        """Listen for other processes' messages (servers only; a CLI just publishes)."""
        if not self.redis_url or self._thread is not None:
            return
        self._subscribed = False
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
        while not self._subscribed and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._subscribed

    def _redis(self) -> Any:
        if self._publisher is None:
            import redis

            self._publisher = redis.Redis.from_url(
                self.redis_url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
            )
        return self._publisher

    def _listen(self) -> None:
        import redis

        while not self._stop.is_set():
            client = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                socket_keepalive=True,
                health_check_interval=HEALTH_CHECK_SECONDS,
            )
            pubsub = client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=HEALTH_CHECK_SECONDS)
                    if message is None:
                        pubsub.check_health()  # a PING; raises on a dead connection
                        continue
                    if message["type"] == "subscribe":
                        # From now on nothing is missed; what happened before is
                        # unknown, so forget it all before caching again.
                        self._reset()
                        self._subscribed = True
                        log.info("invalidation channel subscribed")
                    elif message["type"] == "message":
                        self._receive(message["data"])
            except Exception as exc:
                if self._subscribed:
                    log.warning(
                        "invalidation channel lost (%s): caches off until resubscribed", type(exc).__name__
                    )
                self._subscribed = False
                self._reset()
                self._stop.wait(RETRY_SECONDS)
            finally:
                self._subscribed = False
                for closing in (pubsub.close, client.close):
                    with contextlib.suppress(Exception):  # closing a broken connection
                        closing()

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
