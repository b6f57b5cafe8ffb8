"""Revocation voids S3 presigned URLs whichever process or command revokes
(issue 23, finding 6): the deployment's delivery mode decides, recorded in the
database by the presign-mode server, not the revoking process's own setting.

Before, only a revoking process that was itself in presign mode moved the
object: a revocation through an edge-mode server of the same deployment (or
the CLI) answered ``objects_moved: 0`` and the presigned URL kept working
until its TTL. Real parts: two runtimes on one database and one SeaweedFS
bucket, the presigned URL fetched from SeaweedFS over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from mediagate.accounts import accounts
from mediagate.db.models import Media
from mediagate.http.app import create_app
from mediagate.media import revocation
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.cli import run_cli
from tests.support.loops import run_fresh
from tests.support.seaweed import ObjectStore
from tests.support.stored import message_with_media


def _in_app(rt: Runtime, body: Callable[[httpx.AsyncClient], Coroutine[Any, Any, Any]]) -> Any:
    """``body`` against ``rt``'s app, with its lifespan run (as ``mediagate serve`` does)."""
    app = create_app(rt)

    async def main() -> Any:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test", timeout=60
            ) as client,
        ):
            return await body(client)

    return run_fresh(main)


@pytest.fixture
def deployment(make_runtime: MakeRuntime, object_store: ObjectStore) -> tuple[Runtime, Runtime]:
    """A presign-mode server and an edge-mode server of one deployment (database and bucket)."""
    storage = {
        "storage_url": f"s3://{object_store.new_bucket()}/media",
        "s3_endpoint_url": object_store.endpoint_url,
        "gc_interval": 0,
    }
    return make_runtime(delivery="presign", **storage), make_runtime(delivery="edge", **storage)


def test_an_edge_mode_server_revoking_voids_the_presigned_url(deployment: tuple[Runtime, Runtime]) -> None:
    presign, edge = deployment
    created = accounts.create(presign, "mixed")
    auth = (created.account.sid, created.auth_token)
    msg, med = message_with_media(presign, created.account.sid)
    api = f"/2010-04-01/Accounts/{created.account.sid}"

    async def handed_out(client: httpx.AsyncClient) -> str:
        answer = await client.get(f"{api}/Messages/{msg}/Media/{med}", auth=auth)
        assert answer.status_code == 307, answer.text
        return answer.headers["location"]

    url = _in_app(presign, handed_out)
    assert url.startswith(presign.settings.s3_endpoint_url)  # S3's own URL, not our host
    assert httpx.get(url).status_code == 200

    async def revoke(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"/v1/Accounts/{created.account.sid}/Media/{med}/Revocations", auth=auth)

    answer = _in_app(edge, revoke)
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["objects_moved"] == 1
    gone = httpx.get(url)
    assert gone.status_code in (403, 404), gone.status_code  # S3: NoSuchKey (403 without List)
    assert b"NoSuchKey" in gone.content or gone.status_code == 403

    # The media itself still serves, from its new key, with a fresh URL.
    fresh = _in_app(presign, handed_out)
    assert fresh != url
    assert httpx.get(fresh).status_code == 200


def test_an_account_revocation_from_edge_mode_voids_every_presigned_url(
    deployment: tuple[Runtime, Runtime],
) -> None:
    presign, edge = deployment
    created = accounts.create(presign, "mixed-all")
    auth = (created.account.sid, created.auth_token)
    made = [message_with_media(presign, created.account.sid) for _ in range(3)]
    api = f"/2010-04-01/Accounts/{created.account.sid}"

    async def handed_out(client: httpx.AsyncClient) -> list[str]:
        answers = [await client.get(f"{api}/Messages/{m}/Media/{me}", auth=auth) for m, me in made]
        return [a.headers["location"] for a in answers]

    urls = _in_app(presign, handed_out)
    assert [httpx.get(u).status_code for u in urls] == [200, 200, 200]
    done = revocation.revoke_account(edge, created.account.sid, actor="test")
    assert done.objects_moved == 3
    assert all(httpx.get(u).status_code in (403, 404) for u in urls)


def test_a_command_without_the_store_refuses_and_changes_nothing(deployment: tuple[Runtime, Runtime]) -> None:
    presign, _ = deployment
    created = accounts.create(presign, "cli")
    _, med = message_with_media(presign, created.account.sid)
    _in_app(presign, lambda client: client.get("/healthz"))  # the server started: presign recorded
    env = {
        "MEDIAGATE_DATA_DIR": str(presign.settings.data_dir),
        "MEDIAGATE_DATABASE_URL": presign.settings.database_url,
        "MEDIAGATE_SECRET_KEY": presign.settings.secret_key,
    }  # no MEDIAGATE_STORAGE_URL: the local disk, which cannot move S3 objects
    done = run_cli(env, "media", "revoke", created.account.sid, "--media", med)
    assert done.returncode != 0, done.stdout
    said = " ".join((done.stdout + done.stderr).split())  # as wide as the terminal: unwrap
    assert "handed out S3 presigned URLs" in said
    assert "Nothing was revoked" in said
    with presign.sessions() as session:
        row = session.get(Media, med)
        assert row is not None and row.urls_revoked_before is None  # no half-done revocation

    # With the store's settings the same command moves the object.
    s3_env = {
        **env,
        "MEDIAGATE_STORAGE_URL": presign.settings.storage_url,
        "MEDIAGATE_S3_ENDPOINT_URL": presign.settings.s3_endpoint_url,
    }
    done = run_cli(s3_env, "media", "revoke", created.account.sid, "--media", med)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 objects moved" in " ".join(done.stdout.split())


def test_an_edge_only_deployment_moves_nothing(make_runtime: MakeRuntime, object_store: ObjectStore) -> None:
    edge = make_runtime(
        delivery="edge",
        storage_url=f"s3://{object_store.new_bucket()}/media",
        s3_endpoint_url=object_store.endpoint_url,
        gc_interval=0,
    )
    created = accounts.create(edge, "edge-only")
    _, med = message_with_media(edge, created.account.sid)
    _in_app(edge, lambda client: client.get("/healthz"))
    done = revocation.revoke_media(edge, created.account.sid, med, actor="test")
    assert done.objects_moved == 0  # no presigned URL was ever handed out: the cutoff is enough
