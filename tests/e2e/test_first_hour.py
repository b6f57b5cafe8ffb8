"""The first hour with mediagate: the CLI reads well, bad settings say what is
wrong in one line, serve listens where MEDIAGATE_HOST/PORT say, the CLI reports
the running server's URL, and the cross-host redirect drops credentials."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import click
import httpx
import pytest
import requests
import typer

from mediagate.cli.main import app
from tests.support.cli import Done, run_cli
from tests.support.fileserver import png_bytes
from tests.support.server import MEDIAGATE, ROOT, RunningServer, free_port

pytestmark = pytest.mark.e2e


def run(*args: str, env: dict[str, str] | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    """The installed ``mediagate`` executable in a new process, 80 columns wide."""
    base = env if env is not None else {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGATE_")}
    return subprocess.run(
        [str(MEDIAGATE), *args],
        env={**base, "COLUMNS": "80", **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli(*args: str, env: dict[str, str] | None = None, **extra: str) -> Done:
    """The same command through typer's runner in this process (tests/support/cli.py): what a
    command prints is under test, not the process start, which ``run`` keeps a sample of."""
    base = env if env is not None else {}
    return run_cli({**base, "COLUMNS": "80", **extra}, *args)


BAD_SETTINGS = [
    ("MEDIAGATE_SIGNED_URL_TTL", "abc", "an integer >= 1 and <= 604800"),
    ("MEDIAGATE_LOG_LEVEL", "verbose", "critical, error, warning, info, debug"),
    ("MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS", "maybe", "true or false"),
]


def _assert_stopped_with_one_line(done: Done | subprocess.CompletedProcess[str], variable: str, value: str,
                                  accepts: str, data_dir: Path) -> None:  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert variable in lines[0] and repr(value) in lines[0] and accepts in lines[0]
    assert "Traceback" not in done.stderr and "pydantic" not in done.stderr
    assert not (data_dir / "mediagate.db").exists()  # stopped before touching anything


@pytest.mark.parametrize(("variable", "value", "accepts"), BAD_SETTINGS)
@pytest.mark.parametrize("command", [("serve",), ("accounts", "list")])
def test_a_bad_setting_stops_with_one_line_and_status_2(
    tmp_path: Path, command: tuple[str, ...], variable: str, value: str, accepts: str
) -> None:
    # Through typer's runner (tests/support/cli.py): the executable's entry point is
    # ``app()`` and nothing else; its own run is the next test.
    done = cli(*command, MEDIAGATE_DATA_DIR=str(tmp_path), **{variable: value})
    _assert_stopped_with_one_line(done, variable, value, accepts, tmp_path)


def test_a_bad_setting_stops_the_executable_with_one_line_and_status_2(tmp_path: Path) -> None:
    variable, value, accepts = BAD_SETTINGS[0]
    done = run("serve", MEDIAGATE_DATA_DIR=str(tmp_path), **{variable: value})
    _assert_stopped_with_one_line(done, variable, value, accepts, tmp_path)


def test_an_unknown_variable_is_warned_about_with_the_nearest_name(tmp_path: Path) -> None:
    done = cli("accounts", "list", "--json", MEDIAGATE_DATA_DIR=str(tmp_path), MEDIAGATE_SIGNED_URL_TT="60")
    assert done.returncode == 0, done.stderr
    assert "MEDIAGATE_SIGNED_URL_TT is not a mediagate setting" in done.stderr
    assert "did you mean MEDIAGATE_SIGNED_URL_TTL?" in done.stderr
    assert json.loads(done.stdout) == []


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"mediagate {version('mediagate')}"


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_option_and_argument_has_help() -> None:
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            if not getattr(param, "help", None):
                missing.append(f"mediagate {' '.join(path)}: {param.name}")
    assert missing == []


def test_help_reads_at_80_columns() -> None:
    for path, _ in _commands(typer.main.get_command(app)):
        done = cli(*path, "--help")  # in process: one Python start for all of them
        assert done.returncode == 0, (path, done.stderr)
        for line in done.stdout.splitlines():
            assert len(line) <= 80, (path, line)
            assert "…" not in line, (path, line)  # nothing cut (rich's option table)
            assert not (line.startswith("  ") and line.endswith("...")), (path, line)  # click's summaries
    flags = cli("settings", "set", "--help").stdout
    assert "--enforce-media-http-auth / --no-enforce-media-http-auth" in flags
    # The executable prints the same help, byte for byte, as the runner did above.
    real = run("--help")
    assert real.returncode == 0, real.stderr
    assert real.stdout == cli("--help").stdout


def _serving(tmp_path: Path, *args: str, **env: str) -> Callable[[int], bool]:
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(MEDIAGATE), "serve", *args],
            env={**os.environ, "MEDIAGATE_DATA_DIR": str(tmp_path), **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )

    def answers(port: int) -> bool:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    time.sleep(0.2)
            return False
        finally:
            proc.terminate()
            proc.wait(20)

    return answers


def test_serve_listens_on_mediagate_port(tmp_path: Path) -> None:
    port = free_port()
    assert _serving(tmp_path, MEDIAGATE_PORT=str(port), MEDIAGATE_HOST="127.0.0.1")(port)


def test_the_port_flag_wins_over_mediagate_port(tmp_path: Path) -> None:
    port = free_port()
    # The open number pool (its behaviour: tests/inprocess/test_firsthour_numbers.py) is
    # announced by a real `serve` as it starts; this start is the one that checks it.
    assert _serving(tmp_path, "--port", str(port), MEDIAGATE_PORT="1", MEDIAGATE_NUMBER_POOL="open")(port)
    assert "MEDIAGATE_NUMBER_POOL=open" in (tmp_path / "serve.log").read_text()


def test_the_cli_reports_the_running_servers_url(server: RunningServer, tmp_path: Path) -> None:
    assert urlsplit(server.base_url).port != 8080
    # The executable itself on one database (the `accounts` group's real-process sample);
    # the runner on the other: the URL comes from the data folder, not from the process.
    sqlite = server.env["MEDIAGATE_DATABASE_URL"].startswith("sqlite")
    created = (run if sqlite else cli)(
        "accounts", "create", "--friendly-name", "cli", "--json", env=server.env
    )
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    assert account["api_base_url"] == server.base_url

    auth = (account["sid"], account["auth_token"])
    server.assign_number(account["sid"], "+15550002222")
    number = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{account['sid']}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": "+15550002222", "SmsUrl": "http://127.0.0.1:9/hook"},
        auth=auth,
        timeout=30,
    )
    assert number.status_code == 201, number.text
    picture = tmp_path / "p.png"
    picture.write_bytes(png_bytes(500))
    # inbound and webhooks list through the runner: the same data folder, so the same
    # running-server file (serverinfo) as the executable above reads.
    inbound = cli(
        "inbound",
        "--to",
        "+15550002222",
        "--from",
        "+15557770000",
        "--media",
        str(picture),
        "--json",
        env=server.env,
    )
    assert inbound.returncode == 0, inbound.stderr
    message_sid = json.loads(inbound.stdout)["sid"]
    listed = cli("webhooks", "list", "--account", account["sid"], "--json", env=server.env)
    [delivery] = [d for d in json.loads(listed.stdout) if d["message_sid"] == message_sid]
    media_url = delivery["params"]["MediaUrl0"]
    assert media_url.startswith(
        f"{server.base_url}/2010-04-01/Accounts/{account['sid']}/Messages/{message_sid}/Media/"
    )
    fetched = requests.get(media_url, auth=auth, timeout=30)  # the URL the webhook carries works
    assert fetched.status_code == 200 and fetched.content == picture.read_bytes()


def test_a_secured_media_host_on_another_hostname_gets_no_credentials(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    # The README's recipe: the API on 127.0.0.1, the secured host on localhost, one server.
    srv = server_factory(MEDIAGATE_SECURE_MEDIA_URL="http://localhost:{port}/_media/secure")
    acct = srv.new_account("cross-host")
    picture = tmp_path / "p.png"
    picture.write_bytes(png_bytes(800))
    srv.assign_number(acct.sid, "+15550003333")
    number = requests.post(
        f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": "+15550003333"},
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    assert number.status_code == 201, number.text
    inbound = cli(  # in process: the redirect below is what crosses the process
        "inbound",
        "--to",
        "+15550003333",
        "--from",
        "+15557770000",
        "--media",
        str(picture),
        "--json",
        env=srv.env,
    )
    assert inbound.returncode == 0, inbound.stderr
    message_sid = json.loads(inbound.stdout)["sid"]
    api = f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}"
    [media] = requests.get(f"{api}/Media.json", auth=(acct.sid, acct.token), timeout=30).json()["media_list"]
    r = requests.get(f"{api}/Media/{media['sid']}", auth=(acct.sid, acct.token), timeout=30)
    assert [h.status_code for h in r.history] == [307]
    assert urlsplit(r.history[0].url).hostname == "127.0.0.1"
    assert urlsplit(r.url).hostname == "localhost"
    assert "Authorization" in r.history[0].request.headers
    assert "Authorization" not in r.request.headers  # dropped on the cross-host hop, as against Twilio
    assert r.status_code == 200 and r.content == picture.read_bytes()
    # The README's curl line: -L follows to localhost and sends the credentials only to 127.0.0.1.
    out = tmp_path / "via-curl.png"
    trace = subprocess.run(
        ["curl", "-sSvL", "-u", f"{acct.sid}:{acct.token}", "-o", str(out), "-w", "%{url_effective}",
         f"{api}/Media/{media['sid']}"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert urlsplit(trace.stdout).hostname == "localhost"
    assert trace.stderr.count("> Authorization: Basic") == 1, trace.stderr
    assert out.read_bytes() == picture.read_bytes()


# ------------------------------------------------------------------------- the README's snippets, as written
#
# The quickstart's blocks run as a reader runs them: the one-line file server on
# loopback, the shell lines (with the port the server chose in PORT, the SID and
# token it printed), then quickstart.py with the current twilio-python and the oldest
# the README supports (tests/python-oldest, `make python-oldest`), and quickstart.mjs
# with twilio-node 6 and 5 (tests/node, `make node-deps`). Only the values a reader
# types are replaced: the port numbers and the credentials.

PICTURE = ROOT / "docs" / "screenshots" / "console-dashboard.png"
OLDEST_PYTHON = ROOT / "tests" / "python-oldest" / ".venv" / "bin" / "python"
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"


def _quickstart() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Quickstart") : readme.index("### The secured media host")]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.M | re.S)


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[int]:
    """The README's own line serving docs/screenshots, on a free port instead of 8000."""
    [start] = _blocks(_quickstart(), "sh")[:1]
    [line] = [x for x in start.splitlines() if "http.server" in x]
    port = free_port()
    command = line.split("#")[0].replace(" 8000 ", f" {port} ").replace("python3", sys.executable)
    proc = subprocess.Popen(
        shlex.split(command), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/{PICTURE.name}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, (
                "the README's file server did not start"
            )
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def test_the_quickstart_starts_with_what_its_lines_need() -> None:
    start = _blocks(_quickstart(), "sh")[0]
    assert "export PORT=8080" in start
    # Loopback MediaUrls are refused unless allowed; the line allows them and follows PORT.
    assert "MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS=true make run PORT=$PORT" in start
    assert "--bind 127.0.0.1 --directory docs/screenshots" in start
    secure = (ROOT / "README.md").read_text().split("### The secured media host", 1)[1].split("###", 1)[0]
    assert "8080" not in secure and "localhost:$PORT" in secure  # the recipe follows the chosen port


def test_the_quickstart_snippets_run_as_written(
    server_factory: Callable[..., RunningServer], file_server: int, tmp_path: Path
) -> None:
    srv = server_factory(MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS="true")
    acct = srv.new_account("readme")
    port = urlsplit(srv.base_url).port
    text = _quickstart()
    files = f"127.0.0.1:{file_server}"

    shell = _blocks(text, "sh")[1]
    shell = shell.replace(
        "export PORT=8080 SID=AC0123... TOKEN=4f1c...",
        f"export PORT={port} SID={acct.sid} TOKEN={acct.token}",
    )
    assert str(port) in shell, "the shell block no longer starts by exporting PORT, SID and TOKEN"
    shell = shell.replace("127.0.0.1:8000", files)
    done = subprocess.run(
        ["bash", "-ec", shell], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "picture.png").read_bytes() == PICTURE.read_bytes()
    assert done.stdout.strip().splitlines()[-1].startswith("HTTP/1.1 401"), done.stdout

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")},
        "SID": acct.sid,
        "TOKEN": acct.token,
        "BASE": srv.base_url,
        "MEDIA": f"http://{files}/{PICTURE.name}",
    }
    expected = re.compile(rf"^ME[0-9a-f]{{32}} image/png {PICTURE.stat().st_size} bytes$")

    [python] = _blocks(text, "python")
    (tmp_path / "quickstart.py").write_text(python)
    assert OLDEST_PYTHON.exists(), "the oldest supported twilio-python is missing: run `make python-oldest`"
    runs: dict[str, tuple[list[str], Path]] = {
        "python": ([sys.executable, "quickstart.py"], tmp_path),
        "python-oldest": ([str(OLDEST_PYTHON), "quickstart.py"], tmp_path),
    }

    [js] = _blocks(text, "js")
    node = shutil.which("node")
    assert node, "node is not installed (apt-get install nodejs npm)"
    for package, major in (("twilio", "6"), ("twilio5", "5")):
        assert (NODE_MODULES / package).is_dir(), "twilio-node is missing: run `make node-deps`"
        # The snippet imports "twilio": a folder whose node_modules/twilio is this major (Node
        # resolves the library's own dependencies from its real path, tests/node/node_modules).
        here = tmp_path / f"node-{package}"
        (here / "node_modules").mkdir(parents=True)
        (here / "node_modules" / "twilio").symlink_to(NODE_MODULES / package)
        version = json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
        assert version.split(".")[0] == major
        (here / "quickstart.mjs").write_text(js)
        runs[f"node-{package}"] = ([node, "quickstart.mjs"], here)

    # The four readers' runs are independent (each its own message): side by side, not one
    # after another; each is checked as before.
    started = {
        name: subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, (argv, cwd) in runs.items()
    }
    try:
        oldest = subprocess.run(
            [str(OLDEST_PYTHON), "-c", "import twilio; print(twilio.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert oldest.stdout.strip() == "9.3.6"
        for name, proc in started.items():
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, (name, stderr)
            assert expected.match(stdout.strip()), (name, stdout)
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
