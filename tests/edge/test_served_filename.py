"""The saved filename's extension follows the stored type (issue 8, item 8)."""

from __future__ import annotations

import pytest

from mediagate.media.disposition import served_filename


@pytest.mark.parametrize(
    ("stored", "content_type", "served"),
    [
        ("evil.html", "text/csv", "evil.csv"),
        ("setup.exe", "image/png", "setup.png"),
        ("cat.png", "image/png", "cat.png"),
        ("CAT.PNG", "image/png", "CAT.PNG"),
        ("archive.tar.gz", "application/pdf", "archive.tar.pdf"),
        ("noext", "image/gif", "noext.gif"),
        (".hidden", "image/png", ".hidden.png"),
        ("x.svg", "application/x-unknown-to-everyone", "x.bin"),
        (None, "image/jpeg", "ME0.jpg"),
    ],
)
def test_extension_follows_type(stored: str | None, content_type: str, served: str) -> None:
    assert served_filename(stored, content_type, "ME0") == served
