"""The console's permission matrix against the real server: a sample.

The whole matrix (every console route x every credential kind, with the API as the
oracle: tests/support/console_matrix.py) runs in process on every database
(tests/inprocess/test_console_permission_matrix.py); what the console answers does not
depend on granian. Here one credential kind that is both allowed and refused pages
(a standard key: everything but managing keys and accounts) crosses every console route
of the real server on each database.
"""

from __future__ import annotations

import requests

from tests.support.console_http import console_session
from tests.support.console_matrix import FRIENDLY, World, check_kind, credential
from tests.support.server import RunningServer


def test_console_allows_exactly_what_the_api_allows_over_the_real_server(server: RunningServer) -> None:
    acct = server.new_account(FRIENDLY)
    w = World(server, acct, requests.Session())
    w.user, w.secret = credential(server, acct, "standard_key")
    check_kind(w, "standard_key", console_session(server.base_url, w.user, w.secret))
