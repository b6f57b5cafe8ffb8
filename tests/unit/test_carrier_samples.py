"""The carrier samples (``mediagate inbound --sample KIND``) are real files of their kind:
each one's magic bytes and structure are checked here, independently of the tools that
made them (messaging/samples/generate.sh), and every file shipped is in the table."""

from __future__ import annotations

import struct

import pytest

from mediagate.messaging import samples
from mediagate.messaging.samples import FILES, SAMPLES


def _boxes(data: bytes) -> list[bytes]:
    """The top-level ISO BMFF box types (MP4, HEIF), each box's size checked to fit."""
    found, at = [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        assert 8 <= size <= len(data) - at, "a box runs past the end of the file"
        found.append(kind)
        at += size
    return found


def _is_jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")


def _is_png(data: bytes) -> bool:
    return (
        data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82")
    )


def _is_animated_gif(data: bytes) -> bool:
    # GIF89a, the NETSCAPE2.0 looping extension, more than one graphic control block (one per frame).
    return (
        data.startswith(b"GIF89a")
        and b"NETSCAPE2.0" in data
        and data.count(b"\x21\xf9\x04") > 1
        and data.endswith(b"\x3b")
    )


def _is_heic(data: bytes) -> bool:
    boxes = _boxes(data)
    brand = data[8:12]
    return boxes[0] == b"ftyp" and brand in (b"heic", b"heix", b"mif1") and b"meta" in boxes


def _is_mp4(data: bytes) -> bool:
    boxes = _boxes(data)
    return boxes[0] == b"ftyp" and {b"moov", b"mdat"} <= set(boxes) and b"avc1" in data


def _is_ogg_opus(data: bytes) -> bool:
    return data.startswith(b"OggS") and data[28:36] == b"OpusHead" and b"OpusTags" in data


def _is_vcard(data: bytes) -> bool:
    text = data.decode("utf-8")
    return (
        text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n")
        and text.endswith("END:VCARD\r\n")
        and "\nFN:" in text
    )


def _is_pdf(data: bytes) -> bool:
    if not (data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")):
        return False
    # The startxref offset points at the cross-reference table, as readers require.
    offset = int(data.rsplit(b"startxref", 1)[1].split()[0])
    return data[offset : offset + 4] == b"xref"


SNIFF = {
    "jpeg": _is_jpeg,
    "png": _is_png,
    "gif": _is_animated_gif,
    "heic": _is_heic,
    "vcard": _is_vcard,
    "pdf": _is_pdf,
    "opus": _is_ogg_opus,
    "mp4": _is_mp4,
    "empty": lambda data: data == b"",
}


@pytest.mark.parametrize("kind", samples.KINDS)
def test_each_sample_is_a_valid_file_of_its_kind(kind: str) -> None:
    sample = SAMPLES[kind]
    data = sample.read()
    assert SNIFF[kind](data), f"{sample.filename} is not a valid {kind} file"
    assert len(data) < 8 * 1024  # tiny: it ships in the package


def test_the_table_is_every_file_and_every_kind_the_brief_names() -> None:
    assert {s.filename for s in SAMPLES.values()} == {p.name for p in FILES.iterdir()}
    assert set(SNIFF) == set(samples.KINDS)
    assert {s.content_type for s in SAMPLES.values()} >= {
        "image/jpeg", "image/png", "image/gif", "image/heic", "text/vcard", "application/pdf",
        "audio/ogg", "video/mp4",
    }  # fmt: skip
    assert samples.sample(" HEIC ") is SAMPLES["heic"]
    with pytest.raises(KeyError, match="one of jpeg, png"):
        samples.sample("bmp")
