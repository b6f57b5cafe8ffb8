"""twilio-node against the real server, v6 (npm ``twilio``, what ``npm install twilio``
installs) and v5 (npm alias ``twilio5``), both installed by ``make node-deps`` from
tests/node/package-lock.json: create with mediaUrl, list, fetch, page with ``each``, an
API-key client, the 307 download with Basic auth, delete media, redact a message."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.clients import standard_key
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import ROOT, RunningServer

pytestmark = pytest.mark.e2e

NODE_DIR = ROOT / "tests" / "node"


def _run_node(env: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is not installed (apt-get install nodejs npm)"
    assert (NODE_DIR / "node_modules" / "twilio").is_dir(), "twilio-node is missing: run `make node-deps`"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}  # no edge/region rewriting
    result = subprocess.run(
        [node, str(NODE_DIR / "e2e.js")],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    out: dict[str, Any] = json.loads(result.stdout)
    return out


# One major per database instead of both on both: the script is the same for either and the
# database does not change what twilio-node sends, so each major still runs it whole and each
# database is still crossed by twilio-node (the README's quickstart runs both majors too,
# tests/e2e/test_first_hour.py).
PACKAGE_ON = {"sqlite": ("twilio", "6"), "postgresql": ("twilio5", "5")}


def test_twilio_node_end_to_end(server: RunningServer, files: FileServer, tmp_path: Path) -> None:
    backend = server.env["MEDIAGATE_DATABASE_URL"].split(":")[0].split("+")[0]
    package, major = PACKAGE_ON[backend]
    acct = server.new_account(f"node-{package}")
    key_sid, key_secret = standard_key(server, acct)
    picture = png_bytes(3000)
    media_url = files.add(f"/node-{acct.sid}.png", picture)
    out = _run_node(
        {
            "BASE": server.base_url,
            "SID": acct.sid,
            "TOKEN": acct.token,
            "KEY_SID": key_sid,
            "KEY_SECRET": key_secret,
            "MEDIA_URL": media_url,
            "TWILIO_PACKAGE": package,
        }
    )
    assert out["version"].split(".")[0] == major
    sid = out["created"]["sid"]
    assert sid.startswith("MM") and out["created"]["numMedia"] == "0" and out["created"]["status"] == "queued"
    assert out["settled"]["numMedia"] == "1"
    assert out["created"]["accountSid"] == acct.sid
    assert sid in out["listed"] and len(out["listed"]) == 4
    # each() with PageSize=2 walked both pages through next_page_uri, newest first, no repeats.
    assert out["eachPaged"] == out["listed"]
    assert out["fetched"] == "hello from node"
    [media] = out["media"]
    assert media["contentType"] == "image/png" and media["parentSid"] == sid
    assert out["mediaFetched"] == media["sid"]
    assert out["keyClientMedia"] == [media["sid"]]

    redirect = out["redirect"]
    assert redirect["status"] == 307
    assert "Signature=" in redirect["location"] and "Key-Pair-Id=" in redirect["location"]
    digest = hashlib.sha256(picture).hexdigest()
    for followed in (out["followed"], out["followedWithKey"]):
        assert followed["status"] == 200 and followed["type"] == "image/png"
        assert followed["sha256"] == digest
        assert "/_media/secure/" in followed["url"]
    anonymous = out["anonymous"]
    assert anonymous["status"] == 401
    assert json.loads(anonymous["text"])["code"] == 20003

    assert out["removed"] is True
    assert out["afterRemove"]["status"] == 404 and out["afterRemove"]["code"] == 20404
    gone = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}/Media/{media['sid']}.json",
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    assert gone.status_code == 404

    redacted = out["redacted"]
    assert redacted["body"] == "" and redacted["status"] == "sent" and redacted["sid"].startswith("SM")
    assert out["redactedFetched"] == ""
