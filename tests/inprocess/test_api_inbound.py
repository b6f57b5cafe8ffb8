"""Inbound messages with the app in process (tests/support/api_inprocess.py), on every
(database, storage) shape: carrier ingress (HTTP and CLI) and the loopback carrier deliver to
a number's SmsUrl, signed so that twilio-python's RequestValidator accepts it, with media
downloadable the way Twilio's is. Moved from tests/e2e/test_inbound.py with the assertions
unchanged: the webhook is sent by the app's worker to a real receiver, the media fetched from a
real host, whichever process the app runs in. The CLI runs through typer's runner here
(tests/support/cli.py); tests/e2e/test_inbound.py keeps the executable's runs, the ingress and
the loopback through a real server and twilio-python."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from twilio.request_validator import RequestValidator

from mediagate.accounts import keys
from mediagate.accounts import permissions as perms
from tests.support.api_inprocess import ALL_SHAPES, ApiServer, shape_server
from tests.support.carrier import carrier_auth
from tests.support.cli import run_cli
from tests.support.clients import assert_twilio_error, twilio_client
from tests.support.fileserver import JPEG, FileServer, png_bytes
from tests.support.inprocess import BASE_URL
from tests.support.receiver import Received, Receiver
from tests.support.shapes import shape_id
from tests.support.webhooks import claim, random_number

RunningServer = ApiServer  # the moved tests' annotations
# A media URL; its base (the public URL) is compared with the server's by the tests, so the
# same bodies run in process (http://mediagate.test) and on a real server (tests/e2e/test_inbound.py).
ME_URL = re.compile(
    r"^(?P<base>https?://[^/]+)/2010-04-01/Accounts/(AC\w{32})/Messages/(MM\w{32})/Media/(ME\w{32})$"
)


@pytest.fixture(scope="module", params=ALL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


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


def test_get_webhook_carries_params_in_the_signed_query(
    server: RunningServer, files: FileServer, receiver: Receiver
) -> None:
    acct = server.new_account("inbound-get")
    number = claim(server, acct, receiver.url("/get-hook?v=2"), method="GET")
    url = files.add("/inbound/get.png", png_bytes(500))
    r = carrier_inbound(server, To=number, From="+14155550101", Body="a&b=c ü", MediaUrl=[url])
    assert r.status_code == 201, r.text

    (hook,) = receiver.wait_for("/get-hook")
    assert hook.method == "GET" and hook.body == b""
    assert hook.query["v"] == "2"
    assert hook.query["Body"] == "a&b=c ü" and hook.query["MessageSid"] == r.json()["sid"]
    full_url = receiver.base + hook.path
    assert RequestValidator(acct.token).validate(full_url, {}, hook.headers["X-Twilio-Signature"])
    assert not RequestValidator(acct.token).validate(
        full_url.replace("v=2", "v=3"), {}, hook.headers["X-Twilio-Signature"]
    )


def test_whatsapp_inbound_keeps_the_channel_prefix(
    server: RunningServer, files: FileServer, receiver: Receiver
) -> None:
    acct = server.new_account("inbound-wa")
    hook_url = receiver.url("/wa")
    number = claim(server, acct, hook_url)
    url = files.add("/inbound/wa.jpg", JPEG, "image/jpeg")
    r = carrier_inbound(
        server, To=f"whatsapp:{number}", From="whatsapp:+14155550102", Body="hola", MediaUrl=[url]
    )
    assert r.status_code == 201, r.text

    (hook,) = receiver.wait_for("/wa")
    assert_signed(hook, hook_url, acct.token)
    assert hook.form["To"] == f"whatsapp:{number}"
    assert hook.form["From"] == "whatsapp:+14155550102"
    assert hook.form["WaId"] == "14155550102"
    assert hook.form["NumMedia"] == "1" and hook.form["MediaContentType0"] == "image/jpeg"
    got = requests.get(hook.form["MediaUrl0"], auth=(acct.sid, acct.token), timeout=10)
    assert got.content == JPEG

    # WhatsApp carries one media per message.
    two = carrier_inbound(server, To=f"whatsapp:{number}", From="whatsapp:+14155550102", MediaUrl=[url, url])
    assert two.status_code == 400 and two.json()["code"] == 21623


def test_sms_without_media_gets_an_sm_sid(server: RunningServer, receiver: Receiver) -> None:
    acct = server.new_account("inbound-sms")
    number = claim(server, acct, receiver.url("/plain"))
    r = carrier_inbound(server, To=number, From="+14155550103", Body="just text")
    assert r.status_code == 201
    assert r.json()["sid"].startswith("SM")
    (hook,) = receiver.wait_for("/plain")
    assert hook.form["NumMedia"] == "0"
    assert not any(k.startswith("MediaUrl") for k in hook.form)


def test_ingress_takes_only_a_carrier_credential(server: RunningServer, receiver: Receiver) -> None:
    """No tenant credential may play the carrier: with one, a tenant could forge an
    inbound message with any From and a validly signed webhook (issue 8, finding 9)."""
    owner = server.new_account("ingress-owner")
    stranger = server.new_account("ingress-stranger")
    number = claim(server, owner, receiver.url("/guarded"))
    fields = {"To": number, "From": "+14155550104", "Body": "hi"}
    url = f"{server.base_url}/v1/Carrier/Inbound"

    def post(auth: tuple[str, str] | None, data: dict[str, str] = fields) -> requests.Response:
        return requests.post(url, data=data, auth=auth, timeout=10)

    sender_key = keys.create(
        server.runtime,
        owner.sid,
        "sender",
        actor="test",
        kind="restricted",
        permissions=[perms.MESSAGES_CREATE],
    )
    main = keys.create(server.runtime, owner.sid, "main", actor="test", kind="main")
    refused = {
        "none": None,
        "owner auth token": (owner.sid, owner.token),
        "owner messages-create key": (sender_key.key.sid, sender_key.secret),
        "owner main key": (main.key.sid, main.secret),
        "stranger auth token": (stranger.sid, stranger.token),
        "wrong carrier secret": (carrier_auth(server)[0], "0" * 32),
        "no such carrier credential": ("CR" + "0" * 32, carrier_auth(server)[1]),
    }
    for name, creds in refused.items():
        r = post(creds)
        assert_twilio_error(r, 401, 20003)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"', name
    # Unknown To: 404, but only once the carrier has authenticated.
    assert post(None, {**fields, "To": random_number()}).status_code == 401
    assert_twilio_error(post(carrier_auth(server), {**fields, "To": random_number()}), 404)
    # Nothing above reached the webhook or created a message.
    assert receiver.received("/guarded") == []
    listed = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{owner.sid}/Messages.json",
        auth=(owner.sid, owner.token),
        timeout=10,
    ).json()["messages"]
    assert listed == []

    # The operator's CLI makes a credential that works, and deleting it stops it at once
    # (the executable's run: tests/e2e/test_inbound.py).
    made = run_cli(server.env, "carrier", "credentials", "create", "--friendly-name", "gateway", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout.strip().splitlines()[-1])
    assert created["sid"].startswith("CR")
    gateway = (created["sid"], created["secret"])
    assert post(gateway).status_code == 201
    (hook,) = receiver.wait_for("/guarded")
    assert hook.form["From"] == "+14155550104"
    listing = run_cli(server.env, "carrier", "credentials", "list")
    assert listing.returncode == 0, listing.stderr
    assert created["sid"] in listing.stdout and created["secret"] not in listing.stdout
    deleted = run_cli(server.env, "carrier", "credentials", "delete", created["sid"])
    assert deleted.returncode == 0, deleted.stderr
    assert_twilio_error(post(gateway), 401, 20003)


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
    done = run_cli(env, "inbound", "--to", number, "--from", "+14155550106", "--body", "from the CLI",
                   "--media", str(local), "--media", remote, "--json")  # fmt: skip
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

    # Unknown numbers are refused with a message, not a traceback.
    bad = run_cli(env, "inbound", "--to", random_number(), "--from", "+14155550106", "--body", "x")
    assert bad.returncode != 0 and "error" in bad.stderr.lower()


def test_media_url_host_is_the_public_api_url(server: RunningServer, receiver: Receiver) -> None:
    acct = server.new_account("inbound-host")
    number = claim(server, acct, receiver.url("/host"))
    r = carrier_inbound(
        server, To=number, From="+14155550107", Body="x", MediaUrl=[server.base_url + "/nope.png"]
    )
    # A MediaUrl that cannot be fetched refuses the inbound message; nothing is delivered.
    assert r.status_code == 400
    assert urlsplit(server.base_url).hostname == urlsplit(BASE_URL).hostname
    assert receiver.received("/host") == []
