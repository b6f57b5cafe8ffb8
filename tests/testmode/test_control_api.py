"""``/v1/Testing/*`` in process, on SQLite and PostgreSQL: off means absent, on means the clock,
faults and journal behave as docs/test-mode.md says, and a fault never grants access."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mediagate.http.app import create_app
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.testmode.conftest import World, drive, twilio_error

PATHS = [
    ("GET", "/v1/Testing/Clock"),
    ("POST", "/v1/Testing/Clock"),
    ("GET", "/v1/Testing/Faults"),
    ("POST", "/v1/Testing/Faults"),
    ("DELETE", "/v1/Testing/Faults"),
    ("GET", "/v1/Testing/Faults/TF" + "0" * 32),
    ("DELETE", "/v1/Testing/Faults/TF" + "0" * 32),
    ("GET", "/v1/Testing/Journal"),
    ("POST", "/v1/Testing/Reset"),
    ("POST", "/v1/Testing/Accounts"),
]


def test_without_test_mode_every_testing_path_is_an_unknown_path(make_runtime: MakeRuntime) -> None:
    rt = make_runtime()
    assert rt.testing is None

    async def steps(client: httpx.AsyncClient) -> None:
        for method, path in PATHS:
            r = await client.request(
                method, path, data={"AdvanceSeconds": "10"} if method == "POST" else None
            )
            body = twilio_error(r, 404)
            assert body["code"] == 20404, (method, path, body)

    drive(rt, steps)


def test_the_clock_moves_forward_only(test_rt: Runtime) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        first = (await client.get("/v1/Testing/Clock")).json()
        assert first["offset_seconds"] == 0 and first["now"].endswith("Z")
        moved = await client.post("/v1/Testing/Clock", data={"AdvanceSeconds": "3600"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["offset_seconds"] == 3600
        assert moved.json()["now"] > first["now"]
        for bad in ("0", "-5", "abc", "1e3", "", "NaN", "99999999999"):
            r = await client.post("/v1/Testing/Clock", data={"AdvanceSeconds": bad})
            twilio_error(r, 400)
        twilio_error(await client.post("/v1/Testing/Clock"), 400)
        assert (await client.get("/v1/Testing/Clock")).json()["offset_seconds"] == 3600

    drive(test_rt, steps)
    assert test_rt.testing is not None and test_rt.testing.clock.offset == 3600


def test_a_signed_url_expires_when_the_clock_passes_its_ttl(world: World) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        r = await client.get(world.content_path, auth=world.auth)
        assert r.status_code == 307, r.text
        signed = r.headers["location"]
        assert (await client.get(signed)).status_code == 200
        # The test clock keeps flowing with real time (seconds on a loaded machine): a margin here.
        await client.post("/v1/Testing/Clock", data={"AdvanceSeconds": "14000"})
        assert (await client.get(signed)).status_code == 200  # still inside the 4 hours
        await client.post("/v1/Testing/Clock", data={"AdvanceSeconds": "401"})  # 14401 in all
        expired = await client.get(signed)
        assert expired.status_code == 403
        assert expired.json()["reason"] == "expired"
        # Asking again gives a fresh URL, stamped with the moved time.
        again = await client.get(world.content_path, auth=world.auth)
        assert (await client.get(again.headers["location"])).status_code == 200

    drive(world.rt, steps)


def test_new_resources_carry_the_moved_date(world: World) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        await client.post("/v1/Testing/Clock", data={"AdvanceSeconds": str(400 * 86400)})
        r = await client.post(
            f"/2010-04-01/Accounts/{world.account_sid}/Keys.json",
            data={"FriendlyName": "later"},
            auth=world.auth,
        )
        assert r.status_code == 201, r.text
        now = (await client.get("/v1/Testing/Clock")).json()["now"]
        from email.utils import parsedate_to_datetime

        created = parsedate_to_datetime(r.json()["date_created"])
        assert created.year == int(now[:4])
        assert abs(created.timestamp() - world.rt.clock.time()) < 60

    drive(world.rt, steps)


async def _arm(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/v1/Testing/Faults", data=form)


@pytest.mark.parametrize(
    "form",
    [
        {"Target": "content", "Action": "truncate"},
        {"Target": "secure", "Action": "empty-list"},
        {"Target": "media-list", "Action": "redirect-302"},
        {"Target": "nowhere", "Action": "status", "Status": "500"},
        {"Target": "content", "Action": "explode"},
        {"Target": "content", "Action": "status"},
        {"Target": "content", "Action": "status", "Status": "200"},
        {"Target": "content", "Action": "status", "Status": "503", "DelayMs": "5"},
        {"Target": "content", "Action": "delay"},
        {"Target": "content", "Action": "delay", "DelayMs": "0"},
        {"Target": "content", "Action": "delay", "DelayMs": "60001"},
        {"Target": "webhook", "Action": "status", "Status": "500", "MediaSid": "ME" + "1" * 32},
        {"Target": "content", "Action": "status", "Status": "503", "Count": "0"},
        {"Target": "content", "Action": "status", "Status": "503", "AccountSid": "AC123"},
        {"Target": "secure", "Action": "status", "Status": "503", "MediaSid": "MM" + "1" * 32},
    ],
)
def test_invalid_faults_are_refused(test_rt: Runtime, form: dict[str, str]) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        body = twilio_error(await _arm(client, **form), 400)
        assert body["code"] == 20001
        assert (await client.get("/v1/Testing/Faults")).json()["faults"] == []

    drive(test_rt, steps)


def test_faults_are_listed_with_their_count_and_removed(test_rt: Runtime) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        one = await _arm(client, Target="content", Action="status", Status="503", Count="3")
        assert one.status_code == 201, one.text
        made = one.json()
        assert made["sid"].startswith("TF") and len(made["sid"]) == 34
        assert made["count"] == 3 and made["status"] == 503
        two = (await _arm(client, Target="webhook", Action="delay", DelayMs="10")).json()
        listed = (await client.get("/v1/Testing/Faults")).json()["faults"]
        assert [f["sid"] for f in listed] == [made["sid"], two["sid"]]
        assert (await client.get(f"/v1/Testing/Faults/{two['sid']}")).json()["delay_ms"] == 10
        assert (await client.delete(f"/v1/Testing/Faults/{made['sid']}")).status_code == 204
        twilio_error(await client.delete(f"/v1/Testing/Faults/{made['sid']}"), 404)
        twilio_error(await client.get("/v1/Testing/Faults/TFnope"), 400)
        assert (await client.delete("/v1/Testing/Faults")).status_code == 204
        assert (await client.get("/v1/Testing/Faults")).json()["faults"] == []

    drive(test_rt, steps)
    assert test_rt.testing is not None and not test_rt.testing.faults.armed


def test_a_content_fault_applies_only_after_the_real_decision_allowed(world: World) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        fault = (
            await _arm(client, Target="content", Action="status", Status="503", AccountSid=world.account_sid)
        ).json()
        # Refused requests stay refused, and do not use the fault up.
        twilio_error(await client.get(world.content_path), 401)
        twilio_error(await client.get(world.content_path, auth=(world.account_sid, "wrong" * 7)), 401)
        assert (await client.get("/v1/Testing/Faults")).json()["faults"][0]["count"] == 1
        failed = await client.get(world.content_path, auth=world.auth)
        body = twilio_error(failed, 503)
        assert fault["sid"] in body["message"]
        assert (await client.get(world.content_path, auth=world.auth)).status_code == 307  # used up
        assert (await client.get("/v1/Testing/Faults")).json()["faults"] == []
        entries = (await client.get("/v1/Testing/Journal", params={"MediaSid": world.media_sid})).json()[
            "journal"
        ]
        assert [(e["kind"], e["status"], e["fault"]) for e in entries] == [
            ("content", 401, None),
            ("content", 401, None),
            ("content", 503, fault["sid"]),
            ("content", 307, None),
        ]
        assert entries[-1]["location_host"] == "secure"

    drive(world.rt, steps)


def test_redirect_302_and_a_delay_on_the_content_url(world: World) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        await _arm(client, Target="content", Action="redirect-302", MediaSid=world.media_sid)
        r = await client.get(world.content_path, auth=world.auth)
        assert r.status_code == 302 and "/_media/secure/" in r.headers["location"]
        assert (await client.get(r.headers["location"])).status_code == 200
        await _arm(client, Target="content", Action="delay", DelayMs="300")
        import time

        started = time.monotonic()
        assert (await client.get(world.content_path, auth=world.auth)).status_code == 307
        assert time.monotonic() - started >= 0.3

    drive(world.rt, steps)


def test_media_host_faults_cut_or_fail_served_bytes_only(world: World) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        signed = (await client.get(world.content_path, auth=world.auth)).headers["location"]
        whole = (await client.get(signed)).content
        await _arm(client, Target="secure", Action="truncate")
        # A forged URL is refused whatever is armed, and the fault waits.
        forged = signed.replace("Signature=", "Signature=x")
        assert (await client.get(forged)).status_code == 403
        cut = await client.get(signed)
        assert cut.status_code == 200 and cut.content == whole[: len(whole) // 2]
        await _arm(client, Target="secure", Action="status", Status="404", MediaSid=world.media_sid)
        missing = await client.get(signed)
        assert missing.status_code == 404 and missing.json()["reason"] == "fault"
        assert (await client.get(signed)).content == whole
        entries = (await client.get("/v1/Testing/Journal", params={"AccountSid": world.account_sid})).json()
        secure = [e for e in entries["journal"] if e["kind"] == "secure"]
        assert [e["status"] for e in secure] == [200, 403, 200, 404, 200]
        assert [e["fault"] is not None for e in secure] == [False, False, True, True, False]
        assert all("Signature" not in str(e) for e in entries["journal"])

    drive(world.rt, steps)


def test_media_list_faults(world: World) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        assert len((await client.get(world.list_path, auth=world.auth)).json()["media_list"]) == 1
        await _arm(client, Target="media-list", Action="empty-list", Count="2")
        twilio_error(await client.get(world.list_path), 401)  # the credential first, always
        for _ in range(2):
            r = await client.get(world.list_path, auth=world.auth)
            assert r.status_code == 200 and r.json()["media_list"] == []
        assert len((await client.get(world.list_path, auth=world.auth)).json()["media_list"]) == 1
        await _arm(client, Target="media-list", Action="status", Status="404")
        twilio_error(await client.get(world.list_path, auth=world.auth), 404)

    drive(world.rt, steps)


def test_the_journal_pages_in_order(world: World) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        for _ in range(5):
            await client.get(world.content_path, auth=world.auth)
        page = (await client.get("/v1/Testing/Journal", params={"PageSize": "2"})).json()
        seen = [e["sid"] for e in page["journal"]]
        while page["next_page_uri"]:
            page = (await client.get(page["next_page_uri"])).json()
            seen += [e["sid"] for e in page["journal"]]
        assert len(seen) == 5 and seen == sorted(seen)
        back = (await client.get(page["previous_page_uri"])).json()
        assert [e["sid"] for e in back["journal"]] == seen[2:4]
        twilio_error(await client.get("/v1/Testing/Journal", params={"AccountSid": "nope"}), 400)
        other = (await client.get("/v1/Testing/Journal", params={"AccountSid": "AC" + "0" * 32})).json()
        assert other["journal"] == []

    drive(world.rt, steps)


def test_a_token_guards_every_testing_path(make_runtime: MakeRuntime) -> None:
    token = "t" * 24
    rt = make_runtime(test_mode=True, test_mode_token=token)

    async def steps(client: httpx.AsyncClient) -> None:
        for method, path in PATHS:
            for header in (None, f"Bearer {'x' * 24}", f"Basic {token}"):
                headers = {"Authorization": header} if header else {}
                r = await client.request(method, path, headers=headers)
                twilio_error(r, 401)
        ok = await client.get("/v1/Testing/Clock", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200

    drive(rt, steps)


def test_accounts_made_for_tests_work_with_their_token(test_rt: Runtime) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        r = await client.post("/v1/Testing/Accounts", data={"FriendlyName": "made"})
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["friendly_name"] == "made" and made["sid"].startswith("AC")
        assert made["test_account_sid"].startswith("AC") and made["test_account_sid"] != made["sid"]
        assert made["test_auth_token"]
        listed = await client.get(
            f"/2010-04-01/Accounts/{made['sid']}/Messages.json", auth=(made["sid"], made["auth_token"])
        )
        assert listed.status_code == 200

    drive(test_rt, steps)


def test_the_openapi_document_describes_the_testing_routes_only_in_test_mode(
    make_runtime: MakeRuntime, test_rt: Runtime
) -> None:
    from openapi_spec_validator import validate

    from mediagate.http.openapi.document import route_paths

    def document(rt: Runtime) -> dict[str, Any]:
        async def steps(client: httpx.AsyncClient) -> dict[str, Any]:
            r = await client.get("/openapi.json")
            assert r.status_code == 200
            doc: dict[str, Any] = r.json()
            return doc

        return drive(rt, steps)

    on = document(test_rt)
    validate(on)
    served = {
        (path, method)
        for path, methods in route_paths(create_app(test_rt).routes)
        if path.startswith("/v1/Testing")
        for method in methods - {"head"}
    }
    described = {(p, m) for p, item in on["paths"].items() if p.startswith("/v1/Testing") for m in item}
    assert served and served <= described
    assert not [p for p in document(make_runtime())["paths"] if p.startswith("/v1/Testing")]
