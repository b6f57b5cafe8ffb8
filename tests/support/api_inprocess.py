"""The API tests' ``server`` with the app in this process (tests/support/inprocess.py), offering
what tests/support/server.RunningServer offers (``base_url``, ``env``, ``runtime``,
``new_account``, ``assign_number``), so a test about an API answer moves from the end-to-end
tier with its body and assertions unchanged.

The helpers those tests share (tests/support/clients.py, webhooks.py, scrape.py) call
``requests.get``/``requests.post`` on ``server.base_url``, and twilio-python sends through a
``requests.Session`` of its own. While the context is open, every ``requests`` session hands
URLs under ``BASE_URL`` (``http://mediagate.test``, which no real host answers) to the app in
this process; every other URL (the media host, the webhook receiver) goes out as before.

The settings the end-to-end servers get for quick retries (tests/support/server.py) are set
here too, and the background loops poll more often than by default, so a test that waits for
a webhook or a media fetch waits less: the intervals are settings, not what the tests check."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from mediagate.runtime.context import Runtime
from tests.support.inprocess import BASE_URL, InProcessServer, in_process_server
from tests.support.seaweed import ObjectStore
from tests.support.server import Account
from tests.support.shapes import shapes

# The same (database, storage) shapes as the session servers (tests/support/shapes.py).
LOCAL_SHAPES = shapes(("local",))
ALL_SHAPES = shapes(("local", "s3"))

QUICK = {
    "signing_key_refresh": 0.5,
    "webhook_retry_base": 0.2,
    "webhook_poll_interval": 0.1,
    "outbox_poll_interval": 0.1,
    "media_fetch_poll_interval": 0.1,
}


@dataclass
class ApiServer:
    """What a test of tests/e2e used from RunningServer, with the app in this process."""

    inner: InProcessServer
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.inner.base_url

    @property
    def runtime(self) -> Runtime:
        return self.inner.runtime

    @property
    def http(self) -> requests.Session:
        return self.inner.http

    def new_account(self, name: str = "in-process") -> Account:
        return self.inner.new_account(name)

    def assign_number(self, account_sid: str, number: str) -> None:
        self.inner.assign_number(account_sid, number)


@contextmanager
def api_server(
    backend: str, storage: str, tmp: Path, object_store: ObjectStore | None = None, **settings: Any
) -> Iterator[ApiServer]:
    """The app on ``backend`` and ``storage`` ("s3": a new bucket of the session's store),
    reachable at ``BASE_URL`` through any ``requests`` session while the context is open."""
    storage_env: dict[str, str] = {}
    if storage == "s3":
        assert object_store is not None
        storage_env = object_store.env()
        settings = {
            "storage_url": storage_env["MEDIAGATE_STORAGE_URL"],
            "s3_endpoint_url": storage_env["MEDIAGATE_S3_ENDPOINT_URL"],
            **settings,
        }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in storage_env.items():
            if key.startswith("AWS_"):
                mp.setenv(key, value)  # boto3 reads the credentials from the environment
        with in_process_server(backend, tmp, **{**QUICK, **settings}) as inner:
            # The session's own mount, not get_adapter: while another api_server is open,
            # get_adapter is that one's routing and would answer with its app.
            adapter = inner.http.adapters[BASE_URL + "/"]
            original = requests.Session.get_adapter

            def get_adapter(self: requests.Session, url: str) -> Any:
                if url.lower().startswith(BASE_URL + "/"):
                    return adapter
                return original(self, url)

            mp.setattr(requests.Session, "get_adapter", get_adapter)
            s = inner.runtime.settings
            env: Mapping[str, str] = {
                **os.environ,
                **storage_env,
                "MEDIAGATE_DATA_DIR": str(s.data_dir),
                "MEDIAGATE_DATABASE_URL": s.database_url,
                "MEDIAGATE_SECRET_KEY": s.secret_key,
                "MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS": "true",
                "MEDIAGATE_PUBLIC_URL": BASE_URL,
            }
            yield ApiServer(inner, dict(env))


def shape_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, **settings: Any
) -> Any:
    """For a module fixture parametrized over shapes: the context for ``request.param``."""
    backend, storage = request.param
    return shape_app(
        request, backend, storage, tmp_path_factory.mktemp(f"api-{backend}-{storage}"), **settings
    )


def shape_app(request: pytest.FixtureRequest, backend: str, storage: str, tmp: Path, **settings: Any) -> Any:
    """``api_server`` on this shape, with the session's S3 store when ``storage`` is "s3"."""
    store = request.getfixturevalue("object_store") if storage == "s3" else None
    return api_server(backend, storage, tmp, store, **settings)
