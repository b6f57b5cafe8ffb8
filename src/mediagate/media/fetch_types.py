"""Does a fetched file's first bytes agree with the Content-Type it was served with?

Twilio refuses media whose Content-Type does not match the file (12300
"Invalid Content-Type"; docs/media-urls.md). We check the types whose files
begin with a fixed signature; the rest (text, most audio) carry none worth
trusting and pass on their header alone.
"""

from __future__ import annotations

from collections.abc import Callable

# How many leading bytes the checks below need.
HEAD = 16

# ISO base media file brands (the "ftyp" box) that each type's files declare.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif"})
_MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"M4V ",
        b"M4A ",
        b"dash",
        b"mp71",
    }
)
_3GP_BRANDS = frozenset(
    {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6", b"3ge7", b"3gg6", b"3g2a", b"3g2b"}
)


def _prefix(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(magics)


def _ftyp(brands: frozenset[bytes]) -> Callable[[bytes], bool]:
    # box size (4 bytes), "ftyp", major brand (4 bytes)
    return lambda head: head[4:8] == b"ftyp" and head[8:12] in brands


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


_CHECKS: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": _prefix(b"\xff\xd8\xff"),
    "image/png": _prefix(b"\x89PNG\r\n\x1a\n"),
    "image/gif": _prefix(b"GIF87a", b"GIF89a"),
    "image/bmp": _prefix(b"BM"),
    "image/tiff": _prefix(b"II*\x00", b"MM\x00*"),
    "image/webp": _webp,
    "image/heic": _ftyp(_HEIF_BRANDS),
    "image/heif": _ftyp(_HEIF_BRANDS),
    "video/mp4": _ftyp(_MP4_BRANDS | _3GP_BRANDS),
    "video/mpeg4": _ftyp(_MP4_BRANDS),
    "video/quicktime": lambda head: head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"),
    "video/3gpp": _ftyp(_3GP_BRANDS),
    "application/pdf": _prefix(b"%PDF-"),
    "audio/ogg": _prefix(b"OggS"),
}


def checked(content_type: str) -> bool:
    """Whether ``content_type`` has a signature we check."""
    return content_type in _CHECKS


def agrees(content_type: str, head: bytes) -> bool:
    """Whether the first ``HEAD`` bytes (fewer if the file is shorter) fit ``content_type``."""
    check = _CHECKS.get(content_type)
    return check is None or check(head)
