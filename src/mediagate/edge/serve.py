"""Serving stored bytes safely: no active content, whatever the bytes claim.

Like Synapse's media repository, only an allowlist of image/audio/video
types is ever shown inline (``media/disposition.py``); everything else
(SVG and HTML included: both can run script) is an attachment, and every
answer about a media's bytes carries ``nosniff`` and a sandboxing CSP so that
even a mislabelled file cannot act with the origin's authority. The headers
are put together by ``edge/answer.py`` for every transport.
"""

from __future__ import annotations

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; "
    "style-src 'unsafe-inline'; sandbox",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
