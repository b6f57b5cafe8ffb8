"""Inbound messages end to end, a sample over a real server on each database: carrier ingress
(HTTP and the executable) and the loopback carrier (twilio-python) deliver to a number's SmsUrl,
signed so that twilio-python's RequestValidator accepts it, with media downloadable the way
Twilio's is. Every inbound test runs on every (database, storage) shape with the app in
process, S3 included: tests/inprocess/test_api_inbound.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

from tests.support.carrier import carrier_auth
from tests.support.cli import run_cli
from tests.support.clients import twilio_client
from tests.support.fileserver import JPEG, FileServer, png_bytes
from tests.support.receiver import Received, Receiver
from tests.support.server import RunningServer
from tests.support.webhooks import claim, random_number

MEDIAGATE = Path(sys.executable).parent / "mediagate"
ME_URL = re.compile(
    r"^(?P<base>http://127\.0\.0\.1:\d+)/2010-04-01/Accounts/(AC\w{32})/Messages/(MM\w{32})/Media/(ME\w{32})$"
)

# Inbound media on S3 (SeaweedFS) is checked with the app in process (tests/inprocess/test_api_inbound.py),
# where every test of this file runs on S3 too; what a real server adds does not depend on the store.
SERVER_STORAGES = ("local",)


def carrier_inbound(server: RunningServer, **fields: str | list[str]) -> requests.Response:
    return requests.post(
        f"{server.base_url}/v1/Carrier/Inbound", data=fields, auth=carrier_auth(server), timeout=30
    )


def assert_signed(hook: Received, url: str, token: str) -> None:
    signature = hook.headers["X-Twilio-Signature"]
    assert RequestValidator(token).validate(url, hook.form, signature)
    assert not RequestValidator("0" * 32).validate(url, hook.form, signature)


def test_inbound_mms_through_the_ingress(
    server: RunningServer, files: FileServer, receiver: Receiver
) -> None:
    acct = server.new_account("inbound")
    hook_url = receiver.url("/sms?tenant=blue")
    number = claim(server, acct, hook_url)
    png, jpeg = png_bytes(4000), JPEG
    urls = [files.add("/inbound/a.png", png), files.add("/inbound/b.jpg", jpeg, "image/jpeg")]

    r = carrier_inbound(server, To=number, From="+14155550100", Body="look at this", MediaUrl=urls)
    assert r.status_code == 201, r.text
    message = r.json()
    assert message["sid"].startswith("MM")
    assert message["direction"] == "inbound" and message["status"] == "received"
    assert message["num_media"] == "2" and message["to"] == number

    (hook,) = receiver.wait_for("/sms")
    assert hook.method == "POST" and hook.path == "/sms?tenant=blue"
    assert hook.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert hook.headers["User-Agent"] == "TwilioProxy/1.1"
    assert hook.headers["I-Twilio-Idempotency-Token"]
    assert_signed(hook, hook_url, acct.token)

    params = hook.form
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] == message["sid"]
    assert params["AccountSid"] == acct.sid
    assert params["From"] == "+14155550100" and params["To"] == number
    assert params["Body"] == "look at this"
    assert params["NumMedia"] == "2" and params["NumSegments"] == "1"
    assert params["ApiVersion"] == "2010-04-01"
    assert params["MediaContentType0"] == "image/png" and params["MediaContentType1"] == "image/jpeg"

    listed = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message['sid']}/Media.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()["media_list"]
    assert len(listed) == 2
    for n, expected in enumerate((png, jpeg)):
        media_url = params[f"MediaUrl{n}"]
        match = ME_URL.match(media_url)
        assert match is not None, media_url
        assert match.group("base") == server.base_url
        assert match.group(2) == acct.sid and match.group(3) == message["sid"]
        assert match.group(4) in {m["sid"] for m in listed}
        # New accounts enforce auth: 401 without credentials ...
        anon = requests.get(media_url, timeout=10, allow_redirects=False)
        assert anon.status_code == 401
        # ... and with them, one redirect to the bytes.
        got = requests.get(media_url, auth=(acct.sid, acct.token), timeout=10)
        assert got.status_code == 200 and got.content == expected
        assert len(got.history) == 1 and got.history[0].status_code == 307


def test_a_carrier_credential_made_by_the_executable_works(server: RunningServer, receiver: Receiver) -> None:
    """The ``carrier credentials create`` executable's run against a real server's database
    (which credentials are refused, listing and deleting: tests/inprocess/test_api_inbound.py)."""
    owner = server.new_account("ingress-owner")
    number = claim(server, owner, receiver.url("/guarded"))
    made = subprocess.run(
        [str(MEDIAGATE), "carrier", "credentials", "create", "--friendly-name", "gateway", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    created = json.loads(made.stdout.strip().splitlines()[-1])
    assert created["sid"].startswith("CR")
    r = requests.post(
        f"{server.base_url}/v1/Carrier/Inbound",
        data={"To": number, "From": "+14155550104", "Body": "hi"},
        auth=(created["sid"], created["secret"]),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    (hook,) = receiver.wait_for("/guarded")
    assert hook.form["From"] == "+14155550104"


def test_loopback_delivers_to_a_number_owned_here(
    server: RunningServer, files: FileServer, receiver: Receiver
) -> None:
    sender = server.new_account("loop-sender")
    recipient = server.new_account("loop-recipient")
    # The receiving account's current setting decides: here, legacy public media.
    off = requests.post(
        f"{server.base_url}/v1/Accounts/{recipient.sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "false"},
        auth=(recipient.sid, recipient.token),
        timeout=10,
    )
    assert off.status_code == 200
    hook_url = receiver.url("/loop-in")
    number = claim(server, recipient, hook_url)
    body = png_bytes(2500)
    media_url = files.add("/loop/pic.png", body)

    out = twilio_client(server, sender.sid, sender.token).messages.create(
        to=number,
        from_="+14155550105",
        body="ping",
        media_url=[media_url],
        status_callback=receiver.url("/loop-status"),
    )
    assert out.status == "queued"

    (hook,) = receiver.wait_for("/loop-in")
    assert_signed(hook, hook_url, recipient.token)
    # Signed with the recipient's token, not the sender's.
    assert not RequestValidator(sender.token).validate(
        hook_url, hook.form, hook.headers["X-Twilio-Signature"]
    )
    params = hook.form
    inbound_sid = params["MessageSid"]
    assert inbound_sid.startswith("MM") and inbound_sid != out.sid
    assert params["AccountSid"] == recipient.sid
    assert params["From"] == "+14155550105" and params["To"] == number and params["Body"] == "ping"

    sent_media = twilio_client(server, sender.sid, sender.token).messages(out.sid).media.list()
    copied_sid = ME_URL.match(params["MediaUrl0"]).group(4)  # type: ignore[union-attr]
    assert copied_sid != sent_media[0].sid
    # Recipient's media is public (its setting is off); the sender's stays protected.
    assert requests.get(params["MediaUrl0"], timeout=10).content == body
    sent_content = (
        f"{server.base_url}/2010-04-01/Accounts/{sender.sid}/Messages/{out.sid}/Media/{sent_media[0].sid}"
    )
    assert requests.get(sent_content, timeout=10, allow_redirects=False).status_code == 401

    inbound = twilio_client(server, recipient.sid, recipient.token).messages(inbound_sid).fetch()
    assert inbound.direction == "inbound" and inbound.status == "received"

    callbacks = receiver.wait_for("/loop-status", 2)
    statuses = [c.form["MessageStatus"] for c in callbacks]
    assert statuses == ["sent", "delivered"]
    for c in callbacks:
        assert RequestValidator(sender.token).validate(
            receiver.url("/loop-status"), c.form, c.headers["X-Twilio-Signature"]
        )
        assert c.form["MessageSid"] == c.form["SmsSid"] == out.sid
        assert c.form["SmsStatus"] == c.form["MessageStatus"]
        assert c.form["AccountSid"] == sender.sid and c.form["To"] == number
        assert c.form["ApiVersion"] == "2010-04-01" and "ErrorCode" not in c.form
    assert twilio_client(server, sender.sid, sender.token).messages(out.sid).fetch().status == "delivered"


def test_cli_inbound_with_local_file_and_url(
    server: RunningServer, files: FileServer, receiver: Receiver, tmp_path: Path
) -> None:
    acct = server.new_account("cli-inbound")
    hook_url = receiver.url("/cli")
    number = claim(server, acct, hook_url)
    local = tmp_path / "photo.jpg"
    local.write_bytes(JPEG)
    remote_body = png_bytes(1200)
    remote = files.add("/cli/remote.png", remote_body)

    env = {**server.env, "MEDIAGATE_PUBLIC_URL": server.base_url}
    done = subprocess.run(
        [str(MEDIAGATE), "inbound", "--to", number, "--from", "+14155550106", "--body", "from the CLI",
         "--media", str(local), "--media", remote, "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)
    assert message["direction"] == "inbound" and message["num_media"] == "2"

    # The running server's worker delivers what the CLI queued.
    (hook,) = receiver.wait_for("/cli")
    assert_signed(hook, hook_url, acct.token)
    assert hook.form["MessageSid"] == message["sid"]
    assert hook.form["MediaContentType0"] == "image/jpeg" and hook.form["MediaContentType1"] == "image/png"
    got0 = requests.get(hook.form["MediaUrl0"], auth=(acct.sid, acct.token), timeout=10)
    got1 = requests.get(hook.form["MediaUrl1"], auth=(acct.sid, acct.token), timeout=10)
    assert got0.content == JPEG and got1.content == remote_body
    assert 'filename="photo.jpg"' in got0.headers.get("Content-Disposition", "")

    # Unknown numbers are refused with a message, not a traceback (in this process: tests/support/cli.py).
    bad = run_cli(env, "inbound", "--to", random_number(), "--from", "+14155550106", "--body", "x")
    assert bad.returncode != 0 and "error" in bad.stderr.lower()
