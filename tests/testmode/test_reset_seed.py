"""Reset and seed, on SQLite and PostgreSQL: reset empties the server (rows, bytes, faults,
journal, clock offset, every cache that remembers a credential) and re-seeds it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mediagate.accounts import accounts
from mediagate.core.errors import NotFound
from mediagate.testmode import seed
from tests.conftest import MakeRuntime
from tests.support.clients import basic
from tests.support.stored import message_with_media
from tests.testmode.conftest import drive, make_world, twilio_error

AC = "AC" + "1" * 32
TOKEN = "seeded-token-0123456789"
SK = "SK" + "2" * 32
SECRET = "seeded-key-secret-0123"


def _seed_file(tmp_path: Path, kind: str = "json") -> Path:
    data = {
        "accounts": [
            {
                "sid": AC,
                "auth_token": TOKEN,
                "friendly_name": "CI",
                "enforce_media_http_auth": False,
                "keys": [{"sid": SK, "secret": SECRET}],
                "numbers": [{"phone_number": "+15005550006", "sms_url": "http://127.0.0.1:9/sms"}],
            }
        ]
    }
    if kind == "json":
        path = tmp_path / "seed.json"
        path.write_text(json.dumps(data))
        return path
    path = tmp_path / "seed.toml"
    path.write_text(
        f"""
[[accounts]]
sid = "{AC}"
auth_token = "{TOKEN}"
friendly_name = "CI"
enforce_media_http_auth = false

[[accounts.keys]]
sid = "{SK}"
secret = "{SECRET}"

[[accounts.numbers]]
phone_number = "+15005550006"
sms_url = "http://127.0.0.1:9/sms"
"""
    )
    return path


@pytest.mark.parametrize("kind", ["json", "toml"])
def test_a_seed_file_makes_fixed_credentials(make_runtime: MakeRuntime, tmp_path: Path, kind: str) -> None:
    path = _seed_file(tmp_path, kind)
    rt = make_runtime(test_mode=True, seed_file=path)
    seed.apply(rt, seed.load(path))
    seed.apply(rt, seed.load(path))  # a second start keeps what is there

    async def steps(client: httpx.AsyncClient) -> None:
        for user, secret in ((AC, TOKEN), (SK, SECRET)):
            r = await client.get(f"/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json", auth=(user, secret))
            assert r.status_code == 200, r.text
            numbers = r.json()["incoming_phone_numbers"]
            assert [(n["phone_number"], n["sms_url"]) for n in numbers] == [
                ("+15005550006", "http://127.0.0.1:9/sms")
            ]
        settings = await client.get(f"/v1/Accounts/{AC}/MessagingSettings", auth=(AC, TOKEN))
        assert settings.json()["enforce_media_http_auth"] is False

    drive(rt, steps)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{", "not valid JSON"),
        ('{"accounts": [{"sid": "AC1", "auth_token": "0123456789abcdef"}]}', "accounts.0.sid"),
        ('{"accounts": [{"sid": "' + AC + '", "auth_token": "short"}]}', "accounts.0.auth_token"),
        ('{"accounts": [], "extra": 1}', "extra"),
        (
            json.dumps({"accounts": [{"sid": AC, "auth_token": TOKEN}, {"sid": AC, "auth_token": TOKEN}]}),
            "given twice",
        ),
    ],
)
def test_a_bad_seed_file_is_one_clear_line(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "seed.json"
    path.write_text(content)
    with pytest.raises(seed.SeedError) as caught:
        seed.load(path)
    message = str(caught.value)
    assert says in message and "\n" not in message and str(path) in message
    assert TOKEN not in message


def test_a_missing_seed_file(tmp_path: Path) -> None:
    with pytest.raises(seed.SeedError, match="cannot read it"):
        seed.load(tmp_path / "absent.toml")


def test_reset_empties_the_server_and_seeds_it_again(make_runtime: MakeRuntime, tmp_path: Path) -> None:
    path = _seed_file(tmp_path)
    rt = make_runtime(test_mode=True, seed_file=path)
    seed.apply(rt, seed.load(path))
    world = make_world(rt)
    seeded_message, seeded_media = message_with_media(rt, AC, "seeded")
    assert rt.testing is not None

    async def steps(client: httpx.AsyncClient) -> None:
        # Warm every cache: the credential and the media row are remembered.
        for _ in range(2):
            assert (await client.get(world.content_path, auth=world.auth)).status_code == 307
        seeded_path = f"/2010-04-01/Accounts/{AC}/Messages/{seeded_message}/Media/{seeded_media}"
        assert (await client.get(seeded_path, headers={"Authorization": basic(AC, TOKEN)})).status_code == 307
        await client.post("/v1/Testing/Clock", data={"AdvanceSeconds": "86400"})
        await client.post("/v1/Testing/Faults", data={"Target": "webhook", "Action": "delay", "DelayMs": "5"})
        assert rt.testing is not None and rt.testing.journal.entries()
        r = await client.post("/v1/Testing/Reset")
        assert r.status_code == 200, r.text
        assert r.json()["offset_seconds"] == 0
        twilio_error(await client.get(world.content_path, auth=world.auth), 401)
        # The seeded account is back with the same credentials, and none of its media.
        twilio_error(await client.get(seeded_path, headers={"Authorization": basic(AC, TOKEN)}), 404)
        listed = await client.get(f"/2010-04-01/Accounts/{AC}/Messages.json", auth=(AC, TOKEN))
        assert listed.status_code == 200 and listed.json()["messages"] == []
        assert (await client.get("/v1/Testing/Faults")).json()["faults"] == []
        journal = (await client.get("/v1/Testing/Journal")).json()["journal"]
        assert [e["status"] for e in journal] == [401, 404]  # only what came after the reset

    drive(rt, steps)
    with pytest.raises(NotFound):
        accounts.get(rt, world.account_sid)
    assert [key for key, _ in rt.store.iter_keys()] == []
    assert rt.testing.clock.offset == 0
