"""What a media's bytes are offered as: inline only for an allowlist of image,
audio and video types (SVG and HTML can run script), and a filename whose
extension follows the stored type. Used by the media hosts and by the
presigned URLs of the object store, so both answer the same headers."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

INLINE_TYPES = frozenset(
    {
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/avif",
        "audio/mpeg", "audio/mp4", "audio/ogg", "audio/wav", "audio/webm", "audio/aac", "audio/amr",
        "audio/3gpp", "video/mp4", "video/webm", "video/ogg", "video/quicktime", "video/3gpp", "video/mpeg",
    }
)  # fmt: skip


def served_filename(filename: str | None, content_type: str, fallback_stem: str) -> str:
    """The name offered for saving: the stored name's stem with an extension that
    follows the stored *type*. A browser or a desktop picks the program that opens
    a download by its extension, so an HTML body stored as ``text/csv`` must not
    be saved as ``evil.html`` (nor a PNG as ``setup.exe``). The client's name is
    kept when its extension already means this type; otherwise the type's own
    extension replaces it, or ``.bin`` when the type has none."""
    name = filename or fallback_stem
    if filename and mimetypes.guess_type(filename, strict=False)[0] == content_type:
        return filename
    stem, dot, _ = name.rpartition(".")
    if not dot or not stem:
        stem = name
    return stem + (mimetypes.guess_extension(content_type, strict=False) or ".bin")


def content_disposition(
    filename: str | None, content_type: str, fallback_stem: str, *, attachment: bool = False
) -> str:
    disposition = "inline" if content_type in INLINE_TYPES and not attachment else "attachment"
    name = served_filename(filename, content_type, fallback_stem)
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
