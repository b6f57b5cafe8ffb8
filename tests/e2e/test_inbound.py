"""Inbound messages end to end, a sample over a real server on each database: carrier ingress
(HTTP and the executable) and the loopback carrier (twilio-python) deliver to a number's SmsUrl,
signed so that twilio-python's RequestValidator accepts it, with media downloadable the way
Twilio's is. Every inbound test runs on every (database, storage) shape with the app in
process, S3 included: tests/inprocess/test_api_inbound.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_inbound import (  # noqa: F401
    test_inbound_mms_through_the_ingress,
    test_loopback_delivers_to_a_number_owned_here,
)
from tests.support.carrier import carrier_auth
from tests.support.cli import run_cli
from tests.support.fileserver import JPEG, FileServer, png_bytes
from tests.support.receiver import Received, Receiver
from tests.support.server import RunningServer
from tests.support.webhooks import claim, random_number

MEDIAGATE = Path(sys.executable).parent / "mediagate"

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
