"""``GET /metrics`` behind a trusted proxy, with the app in process (tests/support/api_inprocess.py):
X-Forwarded-For from a trusted proxy names the client, and a client that is not local is refused.
Moved from tests/e2e/test_metrics.py (test_metrics_need_the_bearer_token_when_one_is_set), where it
started a server of its own for this; the rule is the app's (the peer it sees is the ASGI client,
127.0.0.1, as a loopback connection is on a real server). The bearer token and the loopback rule
without a proxy stay there, over real servers."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.support.api_inprocess import api_server
from tests.support.clients import assert_twilio_error

TIMEOUT = 30


def test_metrics_behind_a_trusted_proxy_refuse_a_non_local_client(tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    with api_server("sqlite", "local", tmp_path, trusted_proxies="127.0.0.1") as proxied:
        assert requests.get(proxied.base_url + "/metrics", timeout=TIMEOUT).status_code == 200
        refused = requests.get(proxied.base_url + "/metrics", headers=forwarded, timeout=TIMEOUT)
        assert_twilio_error(refused, 403, 20403)
