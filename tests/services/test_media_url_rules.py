"""MediaUrl rules per channel, as Twilio documents them (issue 25, finding 2;
sources in docs/media-urls.md), with small real files of each type.

Fetch-time rules fail the message (its ``error_code``); the create answered
``queued`` before. Each fetch here runs through the real worker code
(``media_fetches.claim`` + ``process``) against a loopback file server.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from sqlalchemy import select

from mediagate.accounts import accounts
from mediagate.core.errors import BadRequest
from mediagate.db.models import Media, Message
from mediagate.messaging import media_fetches, messages
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.fileserver import FileServer

MB = 1024 * 1024
SMS = ("+15551230001", "+15557650001")
WHATSAPP = ("whatsapp:+15551230001", "whatsapp:+15557650001")
RCS = ("rcs:brand_agent", "rcs:+15557650001")


def png(width: int = 1, height: int = 1) -> bytes:
    """A real, decodable PNG (one grey pixel by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xdb\x00C\x00" + bytes(range(1, 65)) + b"\xff\xd9"
)
BMP = (
    b"BM"
    + struct.pack("<IHHI", 58, 0, 0, 54)
    + struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, 4, 0, 0, 0, 0)
)
BMP += b"\x80\x80\x80\x00"
TIFF = b"II*\x00\x08\x00\x00\x00" + b"\x00\x00"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def iso_media(brand: bytes, compatible: bytes, size: int = 64) -> bytes:
    """An ISO base media file (HEIC, MP4) starting with its ``ftyp`` box."""
    ftyp = struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x00\x00" + compatible + brand
    return (
        ftyp + struct.pack(">I", max(8, size - len(ftyp))) + b"mdat" + b"\x00" * max(0, size - len(ftyp) - 8)
    )


HEIC = iso_media(b"heic", b"mif1")
MP4 = iso_media(b"isom", b"iso2")


def account(rt: Runtime) -> str:
    return accounts.create(rt, "rules").account.sid


def send(rt: Runtime, acct: str, urls: list[str], pair: tuple[str, str] = SMS) -> str:
    return messages.create(rt, acct, messages.NewMessage(pair[0], pair[1], "", urls), actor="t").sid


def drain(rt: Runtime) -> None:
    """Run every due fetch to its end, as the worker would (claim, then process)."""
    for job in media_fetches.due(rt):
        token = media_fetches.claim(rt, job.message_sid)
        if token is not None:
            media_fetches.process(rt, job.message_sid, token)
    assert media_fetches.pending(rt) == 0


def outcome(rt: Runtime, sid: str) -> tuple[str, int | None, list[str]]:
    with rt.sessions() as session:
        message = session.get(Message, sid)
        assert message is not None
        types = list(session.scalars(select(Media.content_type).where(Media.message_sid == sid)))
    return message.status, message.error_code, types


def serve(files: FileServer, acct: str, name: str, body: bytes, content_type: str, **kw: Any) -> str:
    return files.add(f"/rules/{acct}/{name}", body, content_type, **kw)


@pytest.mark.parametrize(
    ("name", "body", "content_type", "stored_as"),
    [
        ("a.jpg", JPEG, "image/jpeg", "image/jpeg"),
        ("b.jpg", JPEG, "image/jpg", "image/jpeg"),
        ("c.png", png(), "image/png", "image/png"),
        ("d.gif", GIF, "image/gif", "image/gif"),
        ("e.heic", HEIC, "image/heic", "image/heic"),
        ("f.bmp", BMP, "image/bmp", "image/bmp"),
        ("g.tiff", TIFF, "image/tiff", "image/tiff"),
        ("h.pdf", PDF, "application/pdf", "application/pdf"),
        ("i.mp4", MP4, "video/mp4", "video/mp4"),
        ("j.vcf", b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n", "text/vcard", "text/vcard"),
    ],
)
def test_mms_accepts_twilios_table(
    make_runtime: MakeRuntime, files: FileServer, name: str, body: bytes, content_type: str, stored_as: str
) -> None:
    rt = make_runtime()
    acct = account(rt)
    sid = send(rt, acct, [serve(files, acct, name, body, content_type)])
    drain(rt)
    assert outcome(rt, sid) == ("queued", None, [stored_as])


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(png(), "image/jpeg"), (JPEG, "image/gif"), (b"<html></html>", "image/png"), (PDF, "image/heic"),
     (png(), "video/mp4"), (JPEG, "application/pdf")],
    ids=["png-as-jpeg", "jpeg-as-gif", "html-as-png", "pdf-as-heic", "png-as-mp4", "jpeg-as-pdf"],
)  # fmt: skip
def test_bytes_that_disagree_with_the_content_type_fail_with_12300(
    make_runtime: MakeRuntime, files: FileServer, body: bytes, content_type: str
) -> None:
    rt = make_runtime()
    acct = account(rt)
    sid = send(rt, acct, [serve(files, acct, "liar", body, content_type)])
    drain(rt)
    assert outcome(rt, sid) == ("failed", 12300, [])


def test_a_type_mms_does_not_accept_fails_with_12300(make_runtime: MakeRuntime, files: FileServer) -> None:
    rt = make_runtime()
    acct = account(rt)
    sid = send(rt, acct, [serve(files, acct, "x.zip", b"PK\x03\x04" + b"\x00" * 40, "application/zip")])
    drain(rt)
    assert outcome(rt, sid) == ("failed", 12300, [])


def test_mms_total_over_5_mb_fails_with_11751(make_runtime: MakeRuntime, files: FileServer) -> None:
    rt = make_runtime()
    acct = account(rt)
    big = png() + b"\x00" * (2 * MB)
    urls = [serve(files, acct, f"p{i}.png", big, "image/png") for i in range(3)]
    sid = send(rt, acct, urls)
    drain(rt)
    assert outcome(rt, sid) == ("failed", 11751, [])


def test_whatsapp_takes_one_media_16_mb_in_all_images_5_mb(
    make_runtime: MakeRuntime, files: FileServer
) -> None:
    rt = make_runtime()
    acct = account(rt)
    video = MP4 + b"\x00" * (6 * MB)
    first, second = (
        serve(files, acct, "v.mp4", video, "video/mp4"),
        serve(files, acct, "s.png", png(), "image/png"),
    )
    ok = send(rt, acct, [first, second], WHATSAPP)
    drain(rt)
    assert outcome(rt, ok) == ("queued", None, ["video/mp4"])
    assert files.hits(f"/rules/{acct}/s.png") == 0  # Twilio sends the first and ignores the rest
    image = send(rt, acct, [serve(files, acct, "big.png", png() + b"\x00" * (5 * MB), "image/png")], WHATSAPP)
    too_big = send(
        rt, acct, [serve(files, acct, "huge.mp4", MP4 + b"\x00" * (16 * MB), "video/mp4")], WHATSAPP
    )
    heic = send(rt, acct, [serve(files, acct, "w.heic", HEIC, "image/heic")], WHATSAPP)
    drain(rt)
    assert outcome(rt, image) == ("failed", 11751, [])
    assert outcome(rt, too_big) == ("failed", 11751, [])
    assert outcome(rt, heic) == ("queued", None, ["image/heic"])


def test_rcs_takes_16_mb_but_not_heic(make_runtime: MakeRuntime, files: FileServer) -> None:
    rt = make_runtime()
    acct = account(rt)
    video = send(rt, acct, [serve(files, acct, "r.mp4", MP4 + b"\x00" * (8 * MB), "video/mp4")], RCS)
    heic = send(rt, acct, [serve(files, acct, "r.heic", HEIC, "image/heic")], RCS)
    drain(rt)
    assert outcome(rt, video) == ("queued", None, ["video/mp4"])
    assert outcome(rt, heic) == ("failed", 12300, [])


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "http:///a.png",
        "/relative.png",
        "http://exa mple.com/a.png",
        "http://10.0.0.1/a.png",
    ],
)
def test_malformed_or_forbidden_urls_are_21620_at_create(url: str, make_runtime: MakeRuntime) -> None:
    rt = make_runtime(allow_private_media_urls=False)
    acct = account(rt)
    with pytest.raises(BadRequest) as refused:
        send(rt, acct, [url])
    assert refused.value.code == 21620
    assert media_fetches.pending(rt) == 0
