"""One attempt: claim, sign with the account's current token, send, record."""

from __future__ import annotations

import hmac
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from mediagate.db.models import Account, WebhookDelivery
from mediagate.media import fetch
from mediagate.webhooks.queue import USER_AGENT, Outcome, claim, record_attempt
from mediagate.webhooks.signature import Params, compute_signature, request_url

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


log = logging.getLogger("mediagate.webhooks")  # one logger for the whole webhook machinery


class Sender:
    """POSTs (or GETs) one webhook under the MediaUrl SSRF policy: the host is
    resolved once, every address checked, and the connection made to the checked
    address (so DNS cannot change between check and connect). Redirects are not
    followed: a webhook that answers 3xx has not accepted the request."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._timeout = rt.settings.webhook_timeout
        self._client = httpx.Client(
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=httpx.Timeout(self._timeout),
        )

    def close(self) -> None:
        self._client.close()

    def send(self, url: str, method: str, params: Params, headers: dict[str, str]) -> Outcome:
        fetcher = self._rt.fetcher
        full = request_url(url, method, params)
        try:
            # Reuse the media fetcher's parser and address policy for the customer's URL.
            target = fetch.parse_target(full, 32768)  # GET carries the params: allow long URLs
            addresses = fetcher.checked_addresses(target)
        except fetch.FetchError as exc:
            return Outcome(None, exc.message.replace("MediaUrl", "webhook URL"))
        body = urlencode(list(params)).encode() if method == "POST" else None
        extensions: dict[str, Any] = {}
        if target.url.scheme == "https" and target.addresses is None:
            extensions["sni_hostname"] = target.host.rstrip(".")
        last = "could not connect"
        for ip in addresses:
            request = self._client.build_request(
                method,
                target.url.copy_with(host=str(ip)),
                headers={**headers, "Host": target.url.netloc.decode("ascii")},
                content=body,
                extensions=extensions,
            )
            try:
                # Headers only: the status is all we use, and reading a body the
                # endpoint drips would hold the sender (and its claim) for ever.
                response = self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last = f"connection failed: {exc}"
                continue
            except httpx.TimeoutException:
                return Outcome(None, f"timed out after {self._timeout:g} s")
            except httpx.HTTPError as exc:
                return Outcome(None, f"HTTP error: {exc}")
            status = response.status_code
            response.close()
            return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")
        return Outcome(None, last)


def attempt(rt: Runtime, sender: Sender, sid: str) -> Outcome | None:
    """Claim ``sid`` and make one attempt; None when another worker had it."""
    if not claim(rt, sid):
        return None
    return attempt_claimed(rt, sender, sid)


def attempt_claimed(rt: Runtime, sender: Sender, sid: str) -> Outcome | None:
    """Make one attempt of a delivery this process has claimed."""
    with rt.sessions() as session:
        row = session.get(WebhookDelivery, sid)
        account = session.get(Account, row.account_sid) if row else None
    if row is None or account is None:
        return None
    from mediagate.accounts import accounts

    params = [(str(k), str(v)) for k, v in row.params]
    url = request_url(row.url, row.method, params)
    # The token is read at each attempt: after a rotation, retries carry the new signature.
    token = accounts.reveal_auth_token(rt, account)
    signed_params = params if row.method == "POST" else []
    headers = {
        "X-Twilio-Signature": compute_signature(token, url, signed_params),
        "User-Agent": USER_AGENT,
        "I-Twilio-Idempotency-Token": row.idempotency_token,
        "Accept": "*/*",
    }
    if row.method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    started = time.monotonic()
    testing = rt.testing
    fault = testing.faults.take("webhook", row.account_sid, None) if testing is not None else None
    if fault is not None and fault.action == "delay":
        assert fault.delay_ms is not None
        time.sleep(
            fault.delay_ms / 1000
        )  # a worker thread: holds this delivery's claim, as a slow network would
    if fault is not None and fault.action == "status":
        # As if the receiver had answered it: recorded and retried like any failure.
        outcome = Outcome(fault.status, f"HTTP {fault.status} (test-mode fault {fault.sid})")
    else:
        outcome = sender.send(row.url, row.method, params, headers)
    elapsed = int((time.monotonic() - started) * 1000)
    record_attempt(rt, sid, outcome, elapsed)
    if testing is not None:
        from mediagate.testmode.journal import plain_url

        testing.journal.record(
            "webhook" if row.kind == "incoming" else "status-callback",
            row.account_sid,
            None,
            delivery_sid=sid,
            message_sid=row.message_sid,
            url=plain_url(row.url),
            method=row.method,
            status=outcome.status_code,
            error=outcome.error,
            # Checked as the receiver's RequestValidator would, against the account's token now.
            signature_valid=hmac.compare_digest(
                headers["X-Twilio-Signature"],
                compute_signature(accounts.reveal_auth_token(rt, account), url, signed_params),
            ),
            fault=fault.sid if fault is not None else None,
        )
    return outcome
