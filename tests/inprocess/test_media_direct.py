"""Direct delivery (``Mode=direct``) with the app in process (tests/support/inprocess.py),
on SQLite and PostgreSQL: what the CLI's setting does to the content URL, and direct
mode over S3 with presigned redirects. Moved from tests/e2e/test_media_direct.py,
which keeps the content URL's answers over a real server on every shape.

``direct_delivery_refresh`` is a setting: the app here re-reads the mode every
0.2 s, where the end-to-end server's 5 s default made the test poll for up to 30 s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import BACKENDS
from tests.support.cli import Done, run_cli
from tests.support.fileserver import png_bytes
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.loops import eventually
from tests.support.seaweed import ObjectStore
from tests.support.stored import message_with_media

TIMEOUT = 30
BODY = png_bytes(300)  # what message_with_media stores


def content_url(app: InProcessServer, account_sid: str, message_sid: str, media_sid: str) -> str:
    return f"{app.base_url}/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


def get(app: InProcessServer, url: str, auth: tuple[str, str], **headers: str) -> requests.Response:
    return app.http.get(url, auth=auth, headers=headers, allow_redirects=False, timeout=TIMEOUT)


def cli_env(app: InProcessServer) -> dict[str, str]:
    """The settings a ``mediagate`` command next to this app would have (same data, database, secret)."""
    s = app.runtime.settings
    return {
        "MEDIAGATE_DATA_DIR": str(s.data_dir),
        "MEDIAGATE_DATABASE_URL": s.database_url,
        "MEDIAGATE_SECRET_KEY": s.secret_key,
    }


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    tmp = tmp_path_factory.mktemp(f"media-direct-{request.param}")
    with in_process_server(request.param, tmp, direct_delivery_refresh=0.2) as server:
        yield server


def test_the_cli_sets_the_mode(app: InProcessServer) -> None:
    acct = app.new_account("direct-cli")
    message_sid, media_sid = message_with_media(app.runtime, acct.sid)
    url = content_url(app, acct.sid, message_sid, media_sid)
    auth = (acct.sid, acct.token)
    assert get(app, url, auth).status_code == 307

    def cli(*args: str) -> Done:  # in this process (tests/support/cli.py), a runtime of its own
        return run_cli(cli_env(app), "accounts", "delivery", acct.sid, *args)

    assert "redirect" in cli().stdout
    assert "direct" in cli("--mode", "direct").stdout
    # The app follows within its direct_delivery_refresh (the change was made by another runtime).
    eventually(lambda: get(app, url, auth).status_code == 200, timeout=TIMEOUT)
    served = get(app, url, auth)
    assert served.content == BODY
    bad = cli("--mode", "sideways")
    assert bad.returncode != 0 and "redirect or direct" in bad.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_direct_in_presign_mode_streams_from_s3_itself(
    tmp_path_factory: pytest.TempPathFactory, object_store: ObjectStore, backend: str
) -> None:
    """With MEDIAGATE_DELIVERY=presign the redirect goes to S3; direct mode answers the bytes from here."""
    s3 = object_store.env()
    tmp = tmp_path_factory.mktemp(f"media-direct-presign-{backend}")
    with in_process_server(
        backend,
        tmp,
        storage_url=s3["MEDIAGATE_STORAGE_URL"],
        s3_endpoint_url=s3["MEDIAGATE_S3_ENDPOINT_URL"],
        delivery="presign",
    ) as srv:
        acct = srv.new_account("direct-presign")
        message_sid, media_sid = message_with_media(srv.runtime, acct.sid)
        url = content_url(srv, acct.sid, message_sid, media_sid)
        auth = (acct.sid, acct.token)
        r = get(srv, url, auth)
        assert r.status_code == 307 and "X-Amz-Signature" in r.headers["Location"]
        mode = srv.http.post(
            f"{srv.base_url}/v1/Accounts/{acct.sid}/MediaDelivery",
            data={"Mode": "direct"},
            auth=auth,
            timeout=TIMEOUT,
        )
        assert mode.status_code == 200 and mode.json()["mode"] == "direct", mode.text
        r = get(srv, url, auth)
        assert r.status_code == 200 and r.content == BODY
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        ranged = get(srv, url, auth, Range="bytes=-10")
        assert ranged.status_code == 206 and ranged.content == BODY[-10:]
