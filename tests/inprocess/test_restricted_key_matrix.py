"""Restricted keys, the whole policies x endpoints matrix, with the app in process
(tests/support/inprocess.py) on every database: what each policy's key may do, and that
a refused request changed nothing. The end-to-end sample (tests/e2e/test_restricted_keys.py)
crosses the process with every endpoint and every policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.restricted import ENDPOINTS, POLICIES, SAMPLE, Endpoint, check_matrix_row


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    with in_process_server(request.param, tmp_path_factory.mktemp(f"rk-{request.param}")) as served:
        yield served


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
@pytest.mark.parametrize("policy", list(POLICIES))
def test_restricted_key_matrix(server: InProcessServer, policy: str, endpoint: Endpoint) -> None:
    check_matrix_row(server, server.http, policy, endpoint)


def test_the_end_to_end_sample_crosses_every_endpoint_and_policy() -> None:
    assert [e for _, e in SAMPLE] == ENDPOINTS
    assert {p for p, _ in SAMPLE} == set(POLICIES)
