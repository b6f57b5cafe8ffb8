"""The console's retention page against the real server (plain requests, no browser):
the form changes the same rule the API shows, with CSRF and clear errors."""

from __future__ import annotations

import requests

from mediagate.retention import rules as retention
from tests.support.console_http import console_session, csrf_token
from tests.support.server import RunningServer

PAGE = "/console/messaging/settings/retention"


def test_retention_page_saves_the_rule_the_api_shows(server: RunningServer) -> None:
    acct = server.new_account("console-retention")
    http = console_session(server.base_url, acct.sid, acct.token)
    page = http.get(server.base_url + PAGE, timeout=10)
    assert page.status_code == 200 and "Nothing deleted by retention" in page.text
    token = csrf_token(page.text)
    form = {"days_after_creation": "14", "days_after_last_access": "", "after_webhook_delivered": "on"}

    refused = http.post(server.base_url + PAGE, data=form, allow_redirects=False, timeout=10)
    assert refused.status_code == 403  # no CSRF token
    assert retention.get_rule(server.runtime, acct.sid).date_created is None

    bad = http.post(
        server.base_url + PAGE,
        data={**form, "days_after_creation": "two weeks", "csrf_token": token},
        timeout=10,
    )
    assert bad.status_code == 400 and "Days after creation must be a whole number of days" in bad.text

    saved = http.post(
        server.base_url + PAGE, data={**form, "csrf_token": token}, allow_redirects=False, timeout=10
    )
    assert saved.status_code == 303 and saved.headers["location"] == PAGE + "?done=saved"
    api = requests.get(
        f"{server.base_url}/v1/Accounts/{acct.sid}/MediaRetention", auth=(acct.sid, acct.token), timeout=10
    ).json()
    assert (api["days_after_creation"], api["after_webhook_delivered"], api["after_first_download"]) == (
        14,
        True,
        False,
    )
    shown = http.get(server.base_url + PAGE + "?done=saved", timeout=10).text
    assert 'value="14"' in shown and "days_after_creation=14" in shown  # the audited change is listed
