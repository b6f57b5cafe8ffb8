"""Encryption at rest end to end: a real server with MEDIAGATE_ENCRYPTION=on on
both databases and both storage backends, clients over HTTP (twilio-python,
requests), the CLI for rotation. The media-host tests that say what the
secured host answers (Range, HEAD, 304, 416, large objects) run here again
against sealed objects."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator

import pytest
import requests

from mediagate.media import media as media_service
from mediagate.runtime.context import Runtime
from mediagate.storage.local import LocalStore
from mediagate.storage.s3 import S3Store
from mediagate.storage.sealed import SealedStore
from tests.conftest import storage_env
from tests.e2e import test_media_hosts as hosts
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.media_steps import StoredMedia, content_url, one_media, signed_url, sms
from tests.support.server import RunningServer, running_server
from tests.support.shapes import SHAPES

pytestmark = pytest.mark.e2e

TIMEOUT = 30
K1 = secrets.token_hex(32)


@pytest.fixture(
    scope="module",
    params=SHAPES,
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    backend, storage = request.param
    tmp = tmp_path_factory.mktemp(f"sealed-{backend}-{storage}")
    env = {**storage_env(request, storage), "MEDIAGATE_ENCRYPTION": "on", "MEDIAGATE_MASTER_KEYS": f"k1:{K1}"}
    with fresh_database(backend, tmp) as url, running_server(tmp / "data", url, **env) as srv:
        yield srv


# The secured host's answers, on sealed objects (blob_response over decrypted chunks).
test_secure_host_full_get = hosts.test_secure_host_full_get
test_secure_host_ranges = hosts.test_secure_host_ranges
test_secure_host_head = hosts.test_secure_host_head
test_secure_host_range_edge_cases = hosts.test_secure_host_range_edge_cases_answer_alike_on_every_backend
test_secure_host_if_none_match = hosts.test_secure_host_if_none_match
test_large_object_streams_intact = hosts.test_large_object_streams_intact
test_public_host_serves_legacy_media = hosts.test_public_host_serves_legacy_media_with_safe_headers
test_delete_media_kills_signed_url_metadata_and_file = (
    hosts.test_delete_media_kills_signed_url_metadata_and_file
)


def sealed_store(server: RunningServer | Runtime) -> SealedStore:
    rt = server if isinstance(server, Runtime) else server.runtime
    store = rt.store
    assert isinstance(store, SealedStore)
    return store


def at_rest(server: RunningServer | Runtime, key: str) -> bytes:
    """The object's bytes as the disk or the bucket holds them, read around mediagate."""
    inner = sealed_store(server).inner
    if isinstance(inner, LocalStore):
        path = inner.local_path(key)
        assert path is not None
        return path.read_bytes()
    assert isinstance(inner, S3Store)
    return inner.client.get_object(Bucket=inner.bucket, Key=inner._name(key))["Body"].read()


def test_ingested_media_is_ciphertext_at_rest(server: RunningServer, files: FileServer) -> None:
    marker = b"SECRET-PLAINTEXT-" * 500
    body = png_bytes(200)[:-12] + marker + png_bytes(200)[-12:]
    m = one_media(server, files, body=body)
    raw = at_rest(server, m.key)
    assert marker[:17] not in raw and len(raw) > len(body)
    r = requests.get(signed_url(m), timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == body
    assert r.headers["Content-Length"] == str(len(body))


def test_range_across_a_chunk_boundary(server: RunningServer) -> None:
    acct = server.new_account("sealed-range")
    body = os.urandom(3 * 65536 + 100)
    row = media_service.add(server.runtime, acct.sid, sms(server, acct), "video/mp4", [body])
    m = StoredMedia(
        acct, row.message_sid, row.sid, body, content_url(server, acct.sid, row.message_sid, row.sid)
    )
    url = signed_url(m)
    for first, last in [(65530, 65545), (65536, 131071), (131071, 131072), (0, 3 * 65536 + 99)]:
        r = requests.get(url, headers={"Range": f"bytes={first}-{last}"}, timeout=TIMEOUT)
        assert r.status_code == 206
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(body)}"
        assert r.content == body[first : last + 1]


def test_plaintext_media_from_before_keeps_working(server: RunningServer) -> None:
    acct = server.new_account("sealed-mixed")
    # Stored as a server without encryption would have: straight into the backend.
    plain = dataclasses.replace(server.runtime, store=sealed_store(server).inner)
    body = png_bytes(3000)
    row = media_service.add(plain, acct.sid, sms(server, acct), "image/png", [body])
    assert at_rest(server, row.storage_key) == body
    m = StoredMedia(
        acct, row.message_sid, row.sid, body, content_url(server, acct.sid, row.message_sid, row.sid)
    )
    r = requests.get(signed_url(m), headers={"Range": "bytes=10-19"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.content == body[10:20]
    assert requests.get(signed_url(m), timeout=TIMEOUT).content == body


def test_a_tampered_object_is_an_error_never_wrong_bytes(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, body=png_bytes(9000))
    raw = bytearray(at_rest(server, m.key))
    raw[100] ^= 0x01
    sealed_store(server).inner.put(m.key, [bytes(raw)])
    url = signed_url(m)
    try:
        r = requests.get(url, timeout=TIMEOUT)
    except requests.exceptions.RequestException:
        return  # the connection was cut mid-body: an error, no bytes taken for the file
    assert r.status_code >= 500 or r.content != m.body
    assert m.body[:100] not in r.content or len(r.content) < len(m.body)


# The rotation (rewrap under a new master key, status, the refusal to start without
# the keys) is tests/inprocess/test_media_encryption.py's: it needs the database and
# the store, not a server process.


# Presign delivery with MEDIAGATE_ENCRYPTION=on (SSE-S3 by the store, the client
# following the presigned redirect) is tests/inprocess/test_media_encryption.py's.
