"""What happens to MediaUrl fetches, seen through the API with the app in process
(tests/support/api_inprocess.py) on every (database, storage) shape: the create answers ``queued``
at once; then failures make the message ``failed`` with Twilio's error code and store nothing;
successes keep bytes, type and filename. Moved from tests/e2e/test_ingest.py with the assertions
unchanged: the fetch is the app's worker against a real media host, in whichever process the app
runs; the e2e file keeps a success and a failure over a real server on each database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from twilio.rest import Client

from mediagate.db.models import Media
from tests.support.api_inprocess import ALL_SHAPES, ApiServer, shape_server
from tests.support.fileserver import JPEG, FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.server import Account
from tests.support.shapes import shape_id
from tests.support.stored import stored_keys, unfinished_writes

MB = 1024 * 1024
# The start of an MP4 file (its ftyp box): the fetch checks a video's bytes too.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
TO = "+15551230001"
FROM = "+15557650001"

RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=ALL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


@dataclass
class Ctx:
    server: RunningServer
    files: FileServer
    acct: Account
    client: Client

    def url(self, name: str, body: bytes, content_type: str = "image/png", **kw: Any) -> str:
        """A file-server URL private to this account (the file server is shared by the session)."""
        return self.files.add(self.path(name), body, content_type, **kw)

    def path(self, name: str) -> str:
        return f"/ingest/{self.acct.sid}/{name}"

    def create(self, media: list[str], **kw: Any) -> dict[str, Any]:
        r = requests.post(
            f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}/Messages.json",
            data={"To": kw.get("to", TO), "From": kw.get("from_", FROM), "MediaUrl": media, "Body": "media"},
            auth=(self.acct.sid, self.acct.token),
            timeout=30,
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        # Twilio's create answer: queued, no media yet; they are fetched afterwards.
        assert created["status"] == "queued" and created["num_media"] == "0", created
        return self.settled(created["sid"])

    def settled(self, sid: str) -> dict[str, Any]:
        """The message once its media fetch is over (its status has left ``queued``)."""
        url = f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}/Messages/{sid}.json"

        def probe() -> dict[str, Any] | None:
            got: dict[str, Any] = requests.get(url, auth=(self.acct.sid, self.acct.token), timeout=30).json()
            return None if got["status"] == "queued" else got

        return eventually(probe)

    def media_rows(self) -> list[Media]:
        with self.server.runtime.sessions() as session:
            return list(session.scalars(select(Media).where(Media.account_sid == self.acct.sid)))

    def stored_files(self) -> list[str]:
        rt = self.server.runtime
        # Leftovers of aborted writes (temporary files, open multipart uploads) count too.
        return stored_keys(rt, self.acct.sid) + unfinished_writes(rt, self.acct.sid)

    def content(self, message_sid: str, media_sid: str) -> requests.Response:
        return requests.get(
            f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}/Messages/{message_sid}/Media/{media_sid}",
            auth=(self.acct.sid, self.acct.token),
            timeout=30,
        )


@pytest.fixture
def ctx(server: RunningServer, files: FileServer) -> Ctx:
    acct = server.new_account("ingest")
    client = Client(acct.sid, acct.token)
    client.api.base_url = server.base_url
    return Ctx(server, files, acct, client)


def assert_failed_without_media(ctx: Ctx, message: dict[str, Any], code: int) -> None:
    assert message["status"] == "failed", message
    assert message["error_code"] == code, message
    assert message["error_message"]
    assert message["num_media"] == "0"
    assert message["date_sent"] is None
    fetched = ctx.client.messages(message["sid"]).fetch()
    assert fetched.status == "failed" and fetched.error_code == code and fetched.num_media == "0"
    assert ctx.client.messages(message["sid"]).media.list() == []
    assert ctx.media_rows() == []
    assert ctx.stored_files() == []


def wait_until_sent(client: Client, sid: str) -> Any:
    """The message once it has left ``queued`` (its fetch and hand-off are over)."""
    return eventually(lambda: (m := client.messages(sid).fetch()).status != "queued" and m)


# --------------------------------------------------------------------------- failures


def test_missing_media_fails_with_11200(ctx: Ctx) -> None:
    url = ctx.url("missing.png", b"", status=404)
    message = ctx.create([url])
    assert ctx.files.hits(ctx.path("missing.png")) == 1
    assert_failed_without_media(ctx, message, 11200)
    # A failed message is never handed to the carrier: when a later good message of the
    # same account has been sent, the failed one is still failed and unsent.
    ok = ctx.create([ctx.url("ok.png", png_bytes(500))])
    assert wait_until_sent(ctx.client, ok["sid"]).status == "sent"
    again = ctx.client.messages(message["sid"]).fetch()
    assert again.status == "failed" and again.date_sent is None


def test_server_error_fails_with_11200(ctx: Ctx) -> None:
    assert_failed_without_media(ctx, ctx.create([ctx.url("boom.png", png_bytes(100), status=500)]), 11200)


def test_empty_media_fails_with_11200(ctx: Ctx) -> None:
    assert_failed_without_media(ctx, ctx.create([ctx.url("empty.png", b"")]), 11200)


def test_html_fails_with_12300(ctx: Ctx) -> None:
    url = ctx.url("page.html", b"<html><body>hi</body></html>", "text/html")
    assert_failed_without_media(ctx, ctx.create([url]), 12300)


def test_missing_content_type_fails_with_12300(ctx: Ctx) -> None:
    url = ctx.url("untyped", png_bytes(100), "")
    assert_failed_without_media(ctx, ctx.create([url]), 12300)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("image/png", b"<html>"),
        ("image/png", b"<html><script>alert(1)</script></html>"),
        ("image/jpeg", png_bytes(300)),
        ("image/gif", JPEG),
    ],
    ids=["short-html-as-png", "html-as-png", "png-as-jpeg", "jpeg-as-gif"],
)
def test_bytes_that_do_not_match_the_type_fail_with_12300(ctx: Ctx, content_type: str, body: bytes) -> None:
    url = ctx.url("liar", body, content_type)
    assert_failed_without_media(ctx, ctx.create([url]), 12300)


def test_image_over_5_mb_for_mms_fails_with_11751(ctx: Ctx) -> None:
    url = ctx.url("huge.png", png_bytes(5 * MB + 1))
    assert_failed_without_media(ctx, ctx.create([url]), 11751)


def test_other_type_over_500_kb_for_mms_fails_with_11751(ctx: Ctx) -> None:
    url = ctx.url("clip.mp4", b"\x00" * (500 * 1024 + 1), "video/mp4")
    assert_failed_without_media(ctx, ctx.create([url]), 11751)


def test_total_over_5_mb_fails_with_11751_and_keeps_nothing(ctx: Ctx) -> None:
    urls = [ctx.url(f"part{i}.png", png_bytes(2 * MB)) for i in range(3)]
    message = ctx.create(urls)
    assert_failed_without_media(ctx, message, 11751)
    # The first two were fetched (and stored, then removed) before the total went over.
    assert ctx.files.hits(ctx.path("part0.png")) == 1 and ctx.files.hits(ctx.path("part1.png")) == 1


def test_second_url_failing_removes_the_first(ctx: Ctx) -> None:
    good = ctx.url("good.png", png_bytes(4000))
    bad = ctx.url("bad.png", b"", status=404)
    message = ctx.create([good, bad])
    assert ctx.files.hits(ctx.path("good.png")) == 1 and ctx.files.hits(ctx.path("bad.png")) == 1
    assert_failed_without_media(ctx, message, 11200)


def test_redirect_to_a_missing_file_fails_with_11200(ctx: Ctx) -> None:
    url = ctx.url("hop", b"", "text/plain", status=302, headers={"Location": ctx.path("nowhere.png")})
    assert_failed_without_media(ctx, ctx.create([url]), 11200)
    assert ctx.files.hits(ctx.path("nowhere.png")) == 1


def test_too_many_redirects_fail_with_11200(ctx: Ctx) -> None:
    for i in range(10):
        ctx.url(f"loop{i}", b"", "text/plain", status=302, headers={"Location": ctx.path(f"loop{i + 1}")})
    ctx.url("loop10", png_bytes(100))
    message = ctx.create([ctx.files.base + ctx.path("loop0")])
    assert_failed_without_media(ctx, message, 11200)
    assert ctx.files.hits(ctx.path("loop10")) == 0


# --------------------------------------------------------------------------- successes


def test_success_stores_bytes_and_becomes_sent(ctx: Ctx) -> None:
    body = png_bytes(12_345)
    message = ctx.create([ctx.url("fine.png", body)])
    assert message["status"] == "sent" and message["num_media"] == "1" and message["error_code"] is None
    sent = wait_until_sent(ctx.client, message["sid"])
    assert sent.status == "sent" and sent.date_sent is not None
    [row] = ctx.media_rows()
    assert row.message_sid == message["sid"] and row.size == len(body) and row.content_type == "image/png"
    assert len(ctx.stored_files()) == 1
    r = ctx.content(message["sid"], row.sid)
    assert r.status_code == 200 and r.content == body and r.headers["content-type"] == "image/png"


def test_redirect_chain_is_followed(ctx: Ctx) -> None:
    body = png_bytes(2222)
    ctx.url("final.png", body)
    ctx.url("hop2", b"", "text/plain", status=307, headers={"Location": "final.png"})  # relative
    ctx.url("hop1", b"", "text/plain", status=301, headers={"Location": ctx.files.base + ctx.path("hop2")})
    start = ctx.url("start", b"moved", "text/plain", status=302, headers={"Location": ctx.path("hop1")})
    message = ctx.create([start])
    assert message["status"] == "sent" and message["num_media"] == "1"
    for name in ("start", "hop1", "hop2", "final.png"):
        assert ctx.files.hits(ctx.path(name)) == 1, name
    [media] = ctx.client.messages(message["sid"]).media.list()
    assert media.content_type == "image/png"
    assert ctx.content(message["sid"], media.sid).content == body


def test_image_jpg_is_stored_as_image_jpeg(ctx: Ctx) -> None:
    message = ctx.create([ctx.url("photo.jpg", JPEG, "image/jpg")])
    assert message["num_media"] == "1"
    [media] = ctx.client.messages(message["sid"]).media.list()
    assert media.content_type == "image/jpeg"
    r = ctx.content(message["sid"], media.sid)
    assert r.headers["content-type"] == "image/jpeg" and r.content == JPEG


def test_content_type_parameters_and_case_are_normalized(ctx: Ctx) -> None:
    message = ctx.create([ctx.url("upper.png", png_bytes(300), "IMAGE/PNG; charset=binary")])
    [media] = ctx.client.messages(message["sid"]).media.list()
    assert media.content_type == "image/png"


def test_original_filename_is_kept(ctx: Ctx) -> None:
    message = ctx.create([ctx.url("Holiday%20Photo.png", png_bytes(800))])
    [row] = ctx.media_rows()
    assert row.filename == "Holiday Photo.png"
    r = ctx.content(message["sid"], row.sid)
    assert 'filename="Holiday Photo.png"' in r.headers["content-disposition"]


def test_content_disposition_filename_wins_over_the_url(ctx: Ctx) -> None:
    url = ctx.url(
        "download", png_bytes(900), headers={"Content-Disposition": 'attachment; filename="cat picture.png"'}
    )
    message = ctx.create([url])
    [row] = ctx.media_rows()
    assert row.filename == "cat picture.png"
    assert 'filename="cat picture.png"' in ctx.content(message["sid"], row.sid).headers["content-disposition"]


def test_several_media_keep_their_order_and_bytes(ctx: Ctx) -> None:
    bodies = [png_bytes(1000 + i) for i in range(3)]
    message = ctx.create([ctx.url(f"n{i}.png", b) for i, b in enumerate(bodies)])
    assert message["num_media"] == "3"
    rows = ctx.media_rows()
    assert sorted(r.size for r in rows) == [1000, 1001, 1002]
    assert {ctx.content(message["sid"], r.sid).content for r in rows} == set(bodies)
    with ctx.server.runtime.sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(Media).where(Media.message_sid == message["sid"])
        )
    assert count == 3 and len(ctx.stored_files()) == 3


def test_whatsapp_limits_differ_from_mms(ctx: Ctx) -> None:
    wa = {"to": "whatsapp:+15551230009", "from_": "whatsapp:+15557650009"}
    # A 6 MB video is over the MMS limit but within WhatsApp's 16 MB for a message.
    video = MP4 + b"\x00" * (6 * MB)
    ok = ctx.create([ctx.url("big.mp4", video, "video/mp4")], **wa)
    assert ok["status"] == "sent" and ok["num_media"] == "1", ok
    [row] = ctx.media_rows()
    assert row.size == len(video) and row.content_type == "video/mp4"
    # A ZIP is no media type Twilio's table lists for WhatsApp.
    zipped = ctx.create([ctx.url("files.zip", b"PK\x03\x04" + b"\x00" * 100, "application/zip")], **wa)
    assert zipped["status"] == "failed" and zipped["error_code"] == 12300 and zipped["num_media"] == "0"
    # And a WhatsApp image is capped at 5 MB like MMS.
    big = ctx.create([ctx.url("wa-huge.png", png_bytes(5 * MB + 1))], **wa)
    assert big["status"] == "failed" and big["error_code"] == 11751
    assert len(ctx.media_rows()) == 1 and len(ctx.stored_files()) == 1
