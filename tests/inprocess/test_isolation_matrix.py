"""Cross-account isolation, the whole matrix, with the app in process (tests/support/inprocess.py)
on every database: every endpoint that names account B, with every credential that is
not B's own valid one, is a Twilio 401 and leaves B exactly as it was (rows, files, and
no MediaUrl fetched). The same world and tables as the end-to-end sample
(tests/e2e/test_isolation.py, tests/support/isolation.py), which crosses the process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.support.fileserver import FileServer
from tests.support.inprocess import in_process_server
from tests.support.isolation import (
    B_ENDPOINTS,
    B_MATRIX,
    B_SAMPLE,
    CREDENTIAL_ENDPOINTS,
    CREDENTIAL_MATRIX,
    CREDENTIAL_SAMPLE,
    FOREIGN,
    INVALID,
    World,
    assert_b_intact,
    assert_twilio_401,
    make_world,
    send,
)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, files: FileServer
) -> Iterator[World]:
    with in_process_server(request.param, tmp_path_factory.mktemp(f"iso-{request.param}")) as server:
        yield make_world(server, server.http, files)


@pytest.mark.parametrize("name", list(B_ENDPOINTS))
def test_b_endpoints_refuse_everything_but_bs_credentials(world: World, files: FileServer, name: str) -> None:
    """Each credential of the matrix on this endpoint is a 401. B is compared with its
    snapshot once, after all of them: every attempt sends the same request, so a change
    any one of them made would still be there (rows, counts of audit events, files)."""
    endpoint = B_ENDPOINTS[name]
    for _, cred in [pair for pair in B_MATRIX if pair[0] == name]:
        r = send(world, endpoint, {**FOREIGN, **INVALID}[cred](world))
        try:
            assert_twilio_401(r, endpoint.method)
        except AssertionError as exc:
            raise AssertionError(f"{name} with {cred}: {exc}") from None
    assert files.hits(world.never_fetched_path) == 0
    assert_b_intact(world, endpoint.mutates)


@pytest.mark.parametrize("name", list(CREDENTIAL_ENDPOINTS))
def test_credential_endpoints_refuse_invalid_credentials(world: World, name: str) -> None:
    endpoint = CREDENTIAL_ENDPOINTS[name]
    for _, cred in [pair for pair in CREDENTIAL_MATRIX if pair[0] == name]:
        r = send(world, endpoint, INVALID[cred](world))
        try:
            assert_twilio_401(r, endpoint.method)
        except AssertionError as exc:
            raise AssertionError(f"{name} with {cred}: {exc}") from None
    assert_b_intact(world, endpoint.mutates)
    # Nothing happened to A either (mixes use A's halves).
    a = world.a.acct
    listed = world.http.request(
        "GET",
        f"{world.server.base_url}/2010-04-01/Accounts/{a.sid}/Messages.json",
        auth=(a.sid, a.token),
        timeout=10,
    )
    assert listed.status_code == 200


def test_the_end_to_end_sample_crosses_every_endpoint_and_credential() -> None:
    """What tests/e2e/test_isolation.py keeps over a real server: a part of each matrix
    that still sends every credential form to every route at least once."""
    assert set(B_SAMPLE) <= set(B_MATRIX) and set(CREDENTIAL_SAMPLE) <= set(CREDENTIAL_MATRIX)
    assert {n for n, _ in B_SAMPLE} == set(B_ENDPOINTS)
    assert {c for _, c in B_SAMPLE} == {*FOREIGN, *INVALID}
    assert {n for n, _ in CREDENTIAL_SAMPLE} == set(CREDENTIAL_ENDPOINTS)
    assert {c for _, c in CREDENTIAL_SAMPLE} == set(INVALID)
    assert len(B_SAMPLE) + len(CREDENTIAL_SAMPLE) < (len(B_MATRIX) + len(CREDENTIAL_MATRIX)) / 5
