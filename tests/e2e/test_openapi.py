"""``/openapi.json`` and ``/docs`` from the real server on each database: the document is valid
OpenAPI 3 naming this server, and the docs page is served from here under a strict CSP. What the
document holds (every route, Twilio's shapes, the copied subset) is checked with the app in
process: tests/inprocess/test_api_openapi.py."""

from __future__ import annotations

import re

import pytest

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_openapi import (  # noqa: F401
    test_docs_page_is_served_from_here_under_a_strict_csp,
    test_document_is_valid_openapi_3,
)

pytestmark = pytest.mark.e2e

_PARAM = re.compile(r"\{[^}]+\}")


def _shape(path: str) -> str:
    """Compare paths by shape: Twilio names path parameters ``{AccountSid}``, our routes ``{account_sid}``."""
    return _PARAM.sub("{}", path)
