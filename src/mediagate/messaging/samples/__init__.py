"""Real files of each kind a carrier delivers with an inbound MMS/WhatsApp message, for
``mediagate inbound --sample KIND`` (``carriers/samples.py`` delivers them).

Tiny but valid files (``generate.sh`` beside this module made them; a test sniffs each
one's magic bytes), declared with the content type a carrier declares and so Twilio
reports in ``MediaContentType{N}``: code that downloads inbound media meets the HEIC an
iPhone sends, a vCard, an Opus voice note or the zero-byte file of a failed transcoding
without a phone at hand. Importing this module is cheap (the CLI's help lists the kinds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

FILES: Final = Path(__file__).resolve().parent / "files"


@dataclass(frozen=True)
class Sample:
    kind: str
    filename: str
    content_type: str
    what: str

    @property
    def path(self) -> Path:
        return FILES / self.filename

    def read(self) -> bytes:
        return self.path.read_bytes()


SAMPLES: Final[dict[str, Sample]] = {
    s.kind: s
    for s in (
        Sample("jpeg", "photo.jpg", "image/jpeg", "a photo"),
        Sample("png", "screenshot.png", "image/png", "a screenshot"),
        Sample("gif", "animation.gif", "image/gif", "an animated GIF, three frames"),
        Sample("heic", "photo.heic", "image/heic", "an iPhone photo, HEIF/HEVC"),
        Sample("vcard", "contact.vcf", "text/vcard", "a shared contact, vCard 3.0"),
        Sample("pdf", "document.pdf", "application/pdf", "a one-page document"),
        Sample("opus", "voice.ogg", "audio/ogg", "a voice note, Opus in Ogg"),
        Sample("mp4", "video.mp4", "video/mp4", "a one-second H.264 video"),
        Sample("empty", "empty.jpg", "image/jpeg", "zero bytes declared as a JPEG: a failed transcoding"),
    )
}
KINDS: Final = tuple(SAMPLES)


def sample(kind: str) -> Sample:
    """The sample of ``kind`` (case-insensitive); ``KeyError`` names the kinds there are."""
    found = SAMPLES.get(kind.strip().lower())
    if found is None:
        raise KeyError(f"unknown sample kind {kind!r}: one of {', '.join(KINDS)}")
    return found
