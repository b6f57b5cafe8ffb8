"""Retention with the app in process (tests/support/api_inprocess.py) on every shape
(SQLite, PostgreSQL, PostgreSQL + S3): the background job with the batched access
records, and the CLI (``retention show``, a dry run, a batched run) through typer's runner.

These were end-to-end tests on a server of their own each (tests/e2e/test_retention.py):
the job runs in the app's lifespan and the CLI works on the database, so neither
crosses the process boundary. What does stays there: the API through twilio-python,
the inbound webhook rule through the real worker, and (system tier) a CLI run killed
between two batches that a second run resumes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mediagate.core.timefmt import utcnow
from mediagate.db.models import AuditEvent, Media, MediaActivity
from mediagate.media import media as media_service
from tests.support.api_inprocess import ApiServer, shape_app
from tests.support.cli import run_cli
from tests.support.clients import assert_twilio_error, twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.media_steps import StoredMedia, add_media, one_media
from tests.support.server import Account
from tests.support.shapes import SHAPES
from tests.support.stored import exists

TIMEOUT = 30


def rule_url(srv: ApiServer, account_sid: str) -> str:
    return f"{srv.base_url}/v1/Accounts/{account_sid}/MediaRetention"


def set_rule(srv: ApiServer, acct: Account, **form: str) -> dict[str, object]:
    r = srv.http.post(rule_url(srv, acct.sid), data=form, auth=(acct.sid, acct.token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


# In presign delivery the bytes come from the store: handing out the presigned GET URL is the download.
DELIVERIES = [(*c, "edge") for c in SHAPES] + [("postgresql", "s3", "presign")]


@pytest.mark.parametrize(("backend", "storage", "delivery"), DELIVERIES)
def test_background_job_deletes_media_after_their_first_download(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    files: FileServer,
    backend: str,
    storage: str,
    delivery: str,
) -> None:
    with shape_app(
        request,
        backend,
        storage,
        tmp_path,
        access_flush_interval=0.2,
        retention_interval=0.3,
        delivery=delivery,
    ) as srv:
        downloaded = one_media(srv, files)
        acct = downloaded.account
        probed = add_media(srv, acct, downloaded.message_sid, "image/png", png_bytes(700))
        set_rule(srv, acct, AfterFirstDownload="true")
        creds = (acct.sid, acct.token)
        # A HEAD through the redirect is an access, not a download; it is recorded first.
        head = srv.http.head(probed.content_url, auth=creds, timeout=TIMEOUT, allow_redirects=True)
        assert head.status_code == 200
        got = srv.http.get(downloaded.content_url, auth=creds, timeout=TIMEOUT)
        assert got.status_code == 200 and got.content == downloaded.body
        _wait_gone(srv, downloaded)
        # The job deletes the objects after the rows' commit: wait for that too (it was the
        # real server's request latency that hid this gap end to end).
        eventually(lambda: True if not exists(srv.runtime, downloaded.key) else None, timeout=30)
        with srv.runtime.sessions() as session:
            activity = session.get(MediaActivity, probed.media_sid)
            audit = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.delete")))
        assert activity is not None and activity.first_downloaded is None
        assert [(a.account_sid, a.actor, a.target) for a in audit] == [
            (acct.sid, "retention", "after_first_download")
        ]
        assert audit[0].detail is not None and audit[0].detail.startswith("1 media deleted")
        listed = twilio_client(srv, acct.sid, acct.token).messages(downloaded.message_sid).media.list()
        assert [m.sid for m in listed] == [probed.media_sid]
        assert exists(srv.runtime, probed.key)
        # Last: this download makes it eligible too.
        assert srv.http.get(probed.content_url, auth=creds, timeout=TIMEOUT).content == probed.body


def _wait_gone(srv: ApiServer, m: StoredMedia) -> None:
    def gone() -> bool:
        r = srv.http.get(m.metadata_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT)
        assert r.status_code in (200, 404), r.text
        return r.status_code == 404

    eventually(gone, timeout=60)


@pytest.mark.parametrize(("backend", "storage"), SHAPES)
def test_cli_show_dry_run_then_a_batched_run(
    request: pytest.FixtureRequest, tmp_path: Path, files: FileServer, backend: str, storage: str
) -> None:
    """The non-crashing half of tests/e2e/test_retention.py's crash test: the deployment
    maximum, ``show``, a dry run that deletes nothing, then a run in batches of two,
    one audit row per batch counting each media once, objects included."""
    with shape_app(request, backend, storage, tmp_path, retention_interval=0, retention_max_days=30) as srv:
        env = {**srv.env, "MEDIAGATE_RETENTION_MAX_DAYS": "30"}  # the CLI next to this app
        first = one_media(srv, files)
        acct = first.account
        items = [first] + [
            add_media(srv, acct, first.message_sid, "image/png", png_bytes(600 + i)) for i in range(4)
        ]
        young = add_media(srv, acct, first.message_sid, "image/png", png_bytes(999))
        old = [m.media_sid for m in items]
        with srv.runtime.tx() as session:
            session.execute(
                update(Media).where(Media.sid.in_(old)).values(date_created=utcnow() - timedelta(days=10))
            )
        r = srv.http.post(
            rule_url(srv, acct.sid),
            data={"DaysAfterCreation": "31"},
            auth=(acct.sid, acct.token),
            timeout=TIMEOUT,
        )
        assert "from 1 to 30" in assert_twilio_error(r, 400, 20001)["message"]
        set_rule(srv, acct, DaysAfterCreation="7")

        shown = run_cli(env, "retention", "show", acct.sid, "--json")
        assert shown.returncode == 0, shown.stderr
        assert '"days_after_creation": 7' in shown.stdout and '"deployment_max_days": 30' in shown.stdout
        dry = run_cli(env, "retention", "run", "--account", acct.sid, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "5 media would be deleted" in dry.stdout and "nothing was deleted" in dry.stdout
        assert all(sid in dry.stdout for sid in old) and young.media_sid not in dry.stdout
        assert len(_left(srv, old)) == 5

        done = run_cli(env, "retention", "run", "--account", acct.sid, "--batch", "2")
        assert done.returncode == 0, done.stderr
        assert "5 media deleted" in done.stdout
        assert _left(srv, old) == set() and media_service.get(
            srv.runtime, acct.sid, first.message_sid, young.media_sid
        )
        with srv.runtime.sessions() as session:
            details = list(
                session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "retention.delete"))
            )
        # One audit row per batch, and together they count each media once.
        assert sorted(int(str(d).split()[0]) for d in details) == [1, 2, 2]
        assert not any(exists(srv.runtime, m.key) for m in items) and exists(srv.runtime, young.key)


def _left(srv: ApiServer, sids: list[str]) -> set[str]:
    with srv.runtime.sessions() as session:
        return set(session.scalars(select(Media.sid).where(Media.sid.in_(sids))))
