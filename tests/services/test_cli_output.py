"""What the CLI prints when its output is not a terminal (a pipe, a file, a CI log): lines
are never wrapped, so a printed command pastes as one line; ``webhooks list`` says how many
attempts were made and what each got; the serve banner's two credentials line up."""

from __future__ import annotations

import re

import pytest

from mediagate.accounts import accounts
from mediagate.cli import main as cli_main
from mediagate.messaging import messages
from mediagate.runtime.context import Runtime
from mediagate.webhooks import enqueue
from mediagate.webhooks.queue import Outcome, record_attempt
from tests.conftest import MakeRuntime
from tests.support.cli import run_cli

HOOK = "http://127.0.0.1:9/" + "a-long-webhook-path/" * 5 + "hook"


def _delivery(rt: Runtime, account_sid: str, outcomes: list[Outcome]) -> str:
    new = messages.NewMessage(to="+15551230001", from_="+15557650001", body="hi", media_urls=[])
    message_sid = messages.create(rt, account_sid, new, actor="test").sid
    with rt.tx() as session:
        sid = enqueue(
            session,
            rt,
            account_sid=account_sid,
            message_sid=message_sid,
            kind="status",
            url=HOOK,
            method="POST",
            params=[("MessageSid", message_sid)],
        ).sid
    for outcome in outcomes:
        record_attempt(rt, sid, outcome, 12)
    return sid


def _env(rt: Runtime) -> dict[str, str]:
    """The CLI's settings for ``rt``'s database, data and secret (the signing keys are sealed with it)."""
    s = rt.settings
    return {
        "MEDIAGATE_DATA_DIR": str(s.data_dir),
        "MEDIAGATE_DATABASE_URL": s.database_url,
        "MEDIAGATE_SECRET_KEY": s.secret_key,
    }


def test_webhooks_list_columns(make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    # xdist's workers inherit COLUMNS=80 from execnet; the output off a terminal is the point here.
    monkeypatch.delenv("COLUMNS", raising=False)
    rt = make_runtime()
    acct = accounts.create(rt, "hooks").account.sid
    failing = _delivery(rt, acct, [Outcome(500, None), Outcome(None, "connection refused")])
    ok = _delivery(rt, acct, [Outcome(204, None)])
    env = _env(rt)
    done = run_cli(env, "webhooks", "list", "--account", acct)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if "Delivery" in line)
    assert re.search(r"Status\s+.\s*Attempts\s+.\s*Answers", header), header
    rows = {sid: next(line for line in lines if sid in line) for sid in (failing, ok)}
    # Not wrapped at 80 columns: each delivery, its whole URL included, is one line.
    assert all(HOOK in row for row in rows.values()), done.stdout
    cells = {sid: [c.strip() for c in re.split(r"[│|]", row)] for sid, row in rows.items()}
    assert cells[failing][-4:-1] == ["pending", "2/8", "500, connection refused"], cells[failing]
    assert cells[ok][-4:-1] == ["delivered", "1/8", "204"], cells[ok]


def test_output_is_not_wrapped_off_a_terminal_and_columns_still_wins(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # xdist's workers inherit COLUMNS=80 from execnet; the output off a terminal is the point here.
    monkeypatch.delenv("COLUMNS", raising=False)
    rt = make_runtime()
    acct = accounts.create(rt, "wide").account.sid
    _delivery(rt, acct, [Outcome(500, None)])
    env = _env(rt)
    wide = run_cli(env, "webhooks", "list", "--account", acct).stdout
    assert max(len(line) for line in wide.splitlines()) > 120
    narrow = run_cli({**env, "COLUMNS": "80"}, "webhooks", "list", "--account", acct).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 80


def test_the_serve_banner_lines_up_and_is_not_wrapped(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(cli_main.out, "_width", None)
    for state in ("new account", "existing account"):  # the first start creates one, a restart finds it
        cli_main._print_quickstart(runtime)
        lines = capsys.readouterr().out.splitlines()
        [sid_line] = [line for line in lines if "Account SID" in line]
        [token_line] = [line for line in lines if "Auth Token" in line]
        assert sid_line.startswith(f"  {state}:  Account SID "), sid_line
        assert sid_line.index("Account SID") == token_line.index("Auth Token"), (sid_line, token_line)
        assert sid_line.index("AC") == token_line.index("Auth Token") + len("Account SID "), lines
        [assign] = [line for line in lines if "numbers assign" in line]
        assert re.search(r"numbers assign \+15551230001 AC[0-9a-f]{32}$", assign), lines
        [curl] = [line for line in lines if "curl -u" in line]
        assert curl.rstrip().endswith("/MessagingSettings"), lines
