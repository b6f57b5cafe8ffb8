"""``mediagate inbound --sample KIND`` (through typer's runner, tests/support/cli.py) with the app
in process (tests/support/api_inprocess.py) on every (database, storage) shape: one inbound
message carrying every sample kind reaches the number's webhook with Twilio's parameters (each
``MediaContentType{N}`` the carrier's type), and each ``MediaUrl{N}`` downloads the very bytes
of the sample (the zero-byte file too), on local files and S3. Moved from tests/e2e, where it
ran the command in process against a real server already: the app's worker delivers the
webhook and serves the bytes the same way here. The executable ``mediagate inbound`` against a
real server: tests/e2e/test_inbound.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from mediagate.messaging.samples import KINDS, SAMPLES
from tests.support.api_inprocess import ALL_SHAPES, ApiServer, shape_server
from tests.support.cli import run_cli
from tests.support.receiver import Receiver
from tests.support.shapes import shape_id
from tests.support.webhooks import claim

RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=ALL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


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
