"""``mediagate inbound --sample KIND`` against a real server: one inbound message carrying
every sample kind reaches the number's webhook with Twilio's parameters (each
``MediaContentType{N}`` the carrier's type), and each ``MediaUrl{N}`` downloads the very
bytes of the sample (the zero-byte file too), on local files and S3."""

from __future__ import annotations

import json

import requests

from mediagate.messaging.samples import KINDS, SAMPLES
from tests.support.cli import run_cli
from tests.support.receiver import Receiver
from tests.support.server import RunningServer
from tests.support.webhooks import claim

SERVER_STORAGES = ("local", "s3")


def test_every_sample_kind_arrives_with_its_type_and_bytes(server: RunningServer, receiver: Receiver) -> None:
    acct = server.new_account("samples")
    hook_url = receiver.url("/samples")
    number = claim(server, acct, hook_url)
    env = {**server.env, "MEDIAGATE_PUBLIC_URL": server.base_url}
    args = [arg for kind in KINDS for arg in ("--sample", kind)]
    done = run_cli(env, "inbound", "--to", number, "--from", "+14155550142", *args, "--json")
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)
    assert message["direction"] == "inbound" and message["num_media"] == str(len(KINDS))

    (hook,) = receiver.wait_for("/samples")
    assert hook.form["MessageSid"] == message["sid"] and hook.form["NumMedia"] == str(len(KINDS))
    for n, kind in enumerate(KINDS):
        sample = SAMPLES[kind]
        assert hook.form[f"MediaContentType{n}"] == sample.content_type, kind
        got = requests.get(hook.form[f"MediaUrl{n}"], auth=(acct.sid, acct.token), timeout=10)
        assert got.status_code == 200, (kind, got.text)
        assert got.content == sample.read(), kind
        assert got.headers["Content-Length"] == str(len(sample.read())), kind
        assert got.headers["Content-Type"].startswith(sample.content_type), kind
        assert f'filename="{sample.filename}"' in got.headers.get("Content-Disposition", ""), kind


def test_sample_usage_errors(server: RunningServer, receiver: Receiver) -> None:
    acct = server.new_account("samples-usage")
    number = claim(server, acct, receiver.url("/samples-usage"))
    unknown = run_cli(server.env, "inbound", "--to", number, "--from", "+14155550143", "--sample", "bmp")
    assert unknown.returncode != 0 and "one of jpeg, png" in unknown.stderr
    mixed = run_cli(
        server.env, "inbound", "--to", number, "--from", "+14155550143", "--sample", "png", "--media", "x.png"
    )
    assert mixed.returncode != 0 and "cannot be combined" in mixed.stderr
    # WhatsApp carries one media per message, as for any other inbound media.
    two = run_cli(
        server.env, "inbound", "--to", "whatsapp:" + number, "--from", "whatsapp:+14155550143",
        "--sample", "png", "--sample", "pdf",
    )  # fmt: skip
    assert two.returncode != 0
    assert receiver.received("/samples-usage") == []
