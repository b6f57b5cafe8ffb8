"""Crash points for the kill -9 tests, and nothing else.

``crash_point(name)`` ends the process at once (``os._exit``: no cleanup, no
flush, as a kill -9 would) when ``MEDIAGATE_TEST_CRASH_AT`` names that point.
The variable is unset in every real deployment, so each call is one dict
lookup and otherwise inert. It is deliberately not a setting: nothing but a
test should ever want it.
"""

from __future__ import annotations

import os

ENV = "MEDIAGATE_TEST_CRASH_AT"
MESSAGE_COMMITTED = "message-committed"  # a new outbound message is committed, not yet dispatched


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os._exit(137)
