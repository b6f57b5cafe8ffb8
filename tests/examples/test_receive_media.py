"""examples/receive_media against a running mediagate: signature checked, every
MediaUrl downloaded with credentials on the API hop only."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.support.carrier import carrier_auth
from tests.support.fileserver import JPEG, FileServer, png_bytes
from tests.support.loops import run_fresh
from tests.support.receiver import running_receiver
from tests.support.server import ROOT, Account, RunningServer, free_port
from tests.support.webhooks import claim

EXAMPLE = ROOT / "examples" / "receive_media"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("receive_media_example", EXAMPLE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


class ExampleApp:
    def __init__(self, base: str) -> None:
        self.base = base

    def received(self) -> dict[str, Any]:
        data: dict[str, Any] = requests.get(self.base + "/received", timeout=10).json()
        return data

    def wait_saved(self, message_sid: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.received()
            assert state["errors"] == [], state["errors"]
            saved = [s for s in state["saved"] if s["message_sid"] == message_sid]
            if len(saved) >= count:
                return sorted(saved, key=lambda s: s["index"])
            assert time.monotonic() < deadline, state
            time.sleep(0.2)


@pytest.fixture
def account(server: RunningServer) -> Account:
    return server.new_account("example-receiver")


@pytest.fixture
def example(account: Account, tmp_path: Path) -> Iterator[ExampleApp]:
    port = free_port()
    env = {
        **os.environ,
        "TWILIO_ACCOUNT_SID": account.sid,
        "TWILIO_AUTH_TOKEN": account.token,
        "MEDIA_DIR": str(tmp_path / "received"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--working-dir", str(EXAMPLE),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "app:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                requests.get(base + "/received", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "example app did not start"
                time.sleep(0.1)
        yield ExampleApp(base)
    finally:
        proc.terminate()
        proc.wait(10)


def send_inbound(server: RunningServer, acct: Account, number: str, media: list[str]) -> str:
    r = requests.post(
        f"{server.base_url}/v1/Carrier/Inbound",
        data={"To": number, "From": "+14155550123", "Body": "photos", "MediaUrl": media},
        auth=carrier_auth(server),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    sid: str = r.json()["sid"]
    return sid


def test_example_downloads_protected_and_legacy_media(
    server: RunningServer, files: FileServer, account: Account, example: ExampleApp
) -> None:
    number = claim(server, account, example.base + "/sms")
    png = png_bytes(6000)
    urls = [files.add("/example/one.png", png), files.add("/example/two.jpg", JPEG, "image/jpeg")]

    protected = send_inbound(server, account, number, urls)
    saved = example.wait_saved(protected, 2)
    assert [s["sha256"] for s in saved] == [hashlib.sha256(png).hexdigest(), hashlib.sha256(JPEG).hexdigest()]
    assert [s["content_type"] for s in saved] == ["image/png", "image/jpeg"]
    assert Path(saved[0]["path"]).read_bytes() == png

    # Legacy public media (setting off when it arrived) downloads the same way.
    r = requests.post(
        f"{server.base_url}/v1/Accounts/{account.sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "false"},
        auth=(account.sid, account.token),
        timeout=10,
    )
    assert r.status_code == 200
    legacy = send_inbound(server, account, number, urls[:1])
    (one,) = example.wait_saved(legacy, 1)
    assert one["sha256"] == hashlib.sha256(png).hexdigest()


def test_example_rejects_unsigned_and_forged_webhooks(tmp_path: Path) -> None:
    # The signature check refuses before anything reaches mediagate: the example's own app
    # in this process (httpx's ASGI transport), no server, so once rather than per database.
    module = load_example()
    sid, token = "AC" + "1" * 32, "a" * 32
    app = module.create_app(module.Receiver(sid, token, tmp_path / "received"))
    form = {"MessageSid": "MM" + "0" * 32, "NumMedia": "0", "AccountSid": sid}
    good = RequestValidator(token).compute_signature("http://127.0.0.1:5000/sms", form)

    async def go() -> tuple[int, int, list[Any], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5000") as client:
            unsigned = (await client.post("/sms", data=form)).status_code
            headers = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
            forged = (await client.post("/sms", data=form, headers=headers)).status_code
            saved = (await client.get("/received")).json()["saved"]
            signed = (await client.post("/sms", data=form, headers={"X-Twilio-Signature": good})).status_code
            return unsigned, forged, saved, signed

    # On a thread of its own: a browser test on the same worker may leave a loop running here.
    unsigned, forged, saved, signed = run_fresh(go)
    assert unsigned == 403
    assert forged == 403
    assert saved == []
    # The same form signed with the account's token passes: the 403s were the signature's.
    assert signed == 200


def test_download_media_retries_a_transient_404() -> None:
    module = load_example()
    with running_receiver() as origin:
        origin.answer("/late", 404)
        content, _ = module.download_media(origin.url("/late"), ("ACx", "secret"), retry_delay=0.1)
        hits = origin.received("/late")
    assert content == b"<Response/>"
    assert [h.status for h in hits] == [404, 200]
    assert all(h.headers.get("Authorization", "").startswith("Basic ") for h in hits)


def test_download_media_gives_up_after_bounded_retries() -> None:
    module = load_example()
    with running_receiver() as origin:
        origin.answer("/gone", 404, 404, 404, 404, 404)
        with pytest.raises(module.MediaDownloadError):
            module.download_media(origin.url("/gone"), ("ACx", "secret"), retries=2, retry_delay=0.05)
        assert len(origin.received("/gone")) == 3
