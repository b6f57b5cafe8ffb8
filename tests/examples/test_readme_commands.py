"""The README's shell lines do what they say when pasted (against a real server)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.cli import Done, run_cli
from tests.support.server import MEDIAGATE, ROOT, RunningServer

pytestmark = pytest.mark.e2e


def _claim_command(readme: str) -> str:
    """The curl line (with its continuation) that claims a number in examples/receive_media."""
    match = re.search(r"^curl -u AC\.\.\.:TOKEN \S+/IncomingPhoneNumbers\.json \\\n.*$", readme, re.M)
    assert match, "the README no longer claims a number with curl"
    return match.group(0)


def test_receive_media_readme_claims_the_number_it_shows(server: RunningServer) -> None:
    acct = server.new_account("readme")
    readme = (ROOT / "examples" / "receive_media" / "README.md").read_text()
    # The operator's step first, as the README shows it (`mediagate numbers assign NUMBER AC...`).
    assign = re.search(r"^\.venv/bin/mediagate numbers assign (\S+) AC\.\.\.$", readme, re.M)
    assert assign, "the README no longer assigns the number before claiming it"
    args = ("numbers", "assign", assign.group(1), acct.sid)
    if server.env["MEDIAGATE_DATABASE_URL"].startswith("sqlite"):
        # The executable as pasted, on one database: the `numbers` group's real-process sample.
        assigned: Done | subprocess.CompletedProcess[str] = subprocess.run(
            [str(MEDIAGATE), *args], env=server.env, capture_output=True, text=True, timeout=60, check=False
        )
    else:
        # On the other, the same command through typer's runner (tests/support/cli.py):
        # what it does to the database is the fact here, not a second Python start.
        assigned = run_cli(server.env, *args)
    assert assigned.returncode == 0, assigned.stderr
    command = _claim_command(readme)
    command = (
        command.replace("AC...:TOKEN", f"{acct.sid}:{acct.token}")
        .replace("AC...", acct.sid)
        .replace("http://127.0.0.1:8080", server.base_url)
    )
    done = subprocess.run(
        ["bash", "-c", command + " -s"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    number = json.loads(done.stdout)
    # With `-d PhoneNumber=+1555...` the form decodes "+" as a space: another number, or a 400.
    assert number.get("phone_number") == "+15550001111", number
    assert number["sms_url"] == "http://127.0.0.1:5000/sms"
