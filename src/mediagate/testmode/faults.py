"""Faults armed through ``POST /v1/Testing/Faults``: which answers to break, how, how many times.

A fault never decides access. Each hook asks ``Faults.take`` only *after* the
real decision allowed the request (or on a failure it makes itself, such as a
webhook "answering" 503), so a fault can make an answer fail, slow down, be cut
short or redirect differently, and never turn a refusal into a success.

``armed`` is a plain attribute the RSGI fast path reads (one memory read): while
any fault is armed, requests go to Starlette, whose decision applies them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from mediagate.core import sids
from mediagate.core.clock import Clock
from mediagate.core.errors import BadRequest
from mediagate.core.inputs import int_param

# The fault's sid prefix (docs/test-mode.md): not one Twilio uses.
FAULT: Final = "TF"

# What each target can do. ``status`` and ``delay`` apply everywhere; the rest
# only where the answer has that shape (a body to cut, a redirect, a list).
ACTIONS: Final[dict[str, frozenset[str]]] = {
    "content": frozenset({"status", "delay", "redirect-302"}),
    "secure": frozenset({"status", "delay", "truncate"}),
    "public": frozenset({"status", "delay", "truncate"}),
    "media-list": frozenset({"status", "delay", "empty-list"}),
    "media-fetch": frozenset({"status", "delay", "truncate"}),
    "webhook": frozenset({"status", "delay"}),
}
# Targets about one media, where a MediaSid filter means something.
_PER_MEDIA: Final = frozenset({"content", "secure", "public"})
MAX_DELAY_MS: Final = 60_000
MAX_COUNT: Final = 10_000


@dataclass(frozen=True)
class Fault:
    sid: str
    target: str
    action: str
    status: int | None
    delay_ms: int | None
    count: int  # how many matching requests it still applies to
    account_sid: str | None
    media_sid: str | None
    date_created: datetime

    def matches(self, target: str, account_sid: str | None, media_sid: str | None) -> bool:
        return (
            self.target == target
            and (self.account_sid is None or self.account_sid == account_sid)
            and (self.media_sid is None or self.media_sid == media_sid)
        )

    def as_json(self) -> dict[str, object]:
        return {
            "sid": self.sid,
            "target": self.target,
            "action": self.action,
            "status": self.status,
            "delay_ms": self.delay_ms,
            "count": self.count,
            "account_sid": self.account_sid,
            "media_sid": self.media_sid,
            "date_created": self.date_created.isoformat().replace("+00:00", "Z"),
            "uri": f"/v1/Testing/Faults/{self.sid}",
        }


def _one_of(form: Mapping[str, str], name: str, choices: tuple[str, ...] | frozenset[str]) -> str:
    value = form.get(name, "")
    if value not in choices:
        raise BadRequest(
            f"{name} must be one of {', '.join(sorted(choices))}; got {value[:40]!r}.", code=20001
        )
    return value


def parse(form: Mapping[str, str], clock: Clock) -> Fault:
    """The fault a ``POST /v1/Testing/Faults`` form describes, or a Twilio-style 400."""
    target = _one_of(form, "Target", tuple(ACTIONS))
    action = _one_of(form, "Action", frozenset(a for acts in ACTIONS.values() for a in acts))
    if action not in ACTIONS[target]:
        raise BadRequest(
            f"Action {action!r} does not apply to Target {target!r} "
            f"(it takes {', '.join(sorted(ACTIONS[target]))}).",
            code=20001,
        )
    status = delay_ms = None
    if action == "status":
        if not form.get("Status"):
            raise BadRequest("Action 'status' needs Status (an HTTP status from 400 to 599).", code=20001)
        status = int_param(form["Status"], "Status", 400, 599)
    elif form.get("Status"):
        raise BadRequest("Status is only for Action 'status'.", code=20001)
    if action == "delay":
        if not form.get("DelayMs"):
            raise BadRequest(f"Action 'delay' needs DelayMs (1 to {MAX_DELAY_MS}).", code=20001)
        delay_ms = int_param(form["DelayMs"], "DelayMs", 1, MAX_DELAY_MS)
    elif form.get("DelayMs"):
        raise BadRequest("DelayMs is only for Action 'delay'.", code=20001)
    count = int_param(form["Count"], "Count", 1, MAX_COUNT) if form.get("Count") else 1
    account_sid = form.get("AccountSid") or None
    if account_sid is not None and not sids.is_sid(account_sid, sids.ACCOUNT):
        raise BadRequest(
            f"Invalid AccountSid {account_sid[:40]!r}: expected AC followed by 32 hex digits.", code=20001
        )
    media_sid = form.get("MediaSid") or None
    if media_sid is not None:
        if target not in _PER_MEDIA:
            raise BadRequest(f"MediaSid does not apply to Target {target!r}.", code=20001)
        if not sids.is_sid(media_sid, sids.MEDIA):
            raise BadRequest(
                f"Invalid MediaSid {media_sid[:40]!r}: expected ME followed by 32 hex digits.", code=20001
            )
    return Fault(
        sids.new_sid(FAULT), target, action, status, delay_ms, count, account_sid, media_sid, clock.now()
    )


class Faults:
    """The armed faults, in the order they were armed (the first match applies)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.armed = False  # read without the lock by the fast path: any fault at all

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)
            self.armed = True

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def remove(self, sid: str) -> bool:
        with self._lock:
            kept = [f for f in self._faults if f.sid != sid]
            found = len(kept) != len(self._faults)
            self._faults = kept
            self.armed = bool(kept)
        return found

    def clear(self) -> None:
        with self._lock:
            self._faults = []
            self.armed = False

    def take(
        self,
        target: str,
        account_sid: str | None,
        media_sid: str | None,
        actions: frozenset[str] | None = None,
    ) -> Fault | None:
        """The first armed fault for this request (one of ``actions``, when the
        answer's shape allows only some), its count used once; ``None`` when none
        applies. The returned copy carries the count left after this use."""
        if not self.armed:
            return None
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(target, account_sid, media_sid) and (
                    actions is None or fault.action in actions
                ):
                    used = replace(fault, count=fault.count - 1)
                    if used.count > 0:
                        self._faults[i] = used
                    else:
                        del self._faults[i]
                        self.armed = bool(self._faults)
                    return used
        return None
