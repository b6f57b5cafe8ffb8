"""The console reads its query like the API does: NUL or a lone surrogate in any
query parameter is a 400 page, not a 500 from PostgreSQL (issue 8, finding 7).
Every form of it runs in process on both databases (tests/inprocess/test_console_pages.py);
the real server keeps one, for the query as granian hands it over."""

from __future__ import annotations

import pytest
import requests

from tests.support.console_http import console_session
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "path",
    [
        "/console/messages?To=%2B1555%00",
    ],
)
def test_nul_in_a_console_query_is_a_400_page(server: RunningServer, path: str) -> None:
    acct = server.new_account("console-query")
    http = console_session(server.base_url, acct.sid, acct.token)
    r = http.get(server.base_url + path, allow_redirects=False, timeout=10)
    assert r.status_code == 400, r.text
    assert "Bad request" in r.text
    assert http.get(server.base_url + "/console/messages", timeout=10).status_code == 200  # still serving
    assert requests.get(server.base_url + "/healthz", timeout=10).status_code == 200
