"""docs/deploy.md's recipes run as written (issue 23, finding 9).

The SeaweedFS recipe is read out of the document (the ``s3.json`` heredoc,
the ``weed mini`` command, the bucket's creation), run on free ports in a
folder of this test, and must create its bucket: the first version's
identity lacked ``Admin``, and ``s3 mb`` answered AccessDenied.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from mediagate.storage.s3 import S3Store
from tests.support.server import free_port

pytestmark = pytest.mark.system

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
WEED = Path(sys.executable).parent / "weed"
_PORT_FLAG = re.compile(r"^-([a-z0-9.]*port(?:\.grpc)?)=(\d+)$")


def seaweed_recipe() -> str:
    text = DEPLOY.read_text()
    after = text[text.index("**SeaweedFS**") :]
    return after[after.index("```sh\n") + 6 : after.index("```", after.index("```sh\n") + 6)]


def _commands(block: str) -> list[str]:
    """The block's shell lines, continuations joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.split(" # ")[0].strip() for line in joined.splitlines() if line.strip()]


def _heredoc(block: str, name: str) -> str:
    start = block.index(f"cat > {name} <<'JSON'\n") + len(f"cat > {name} <<'JSON'\n")
    return block[start : block.index("\nJSON\n", start)]


def test_the_seaweedfs_recipe_creates_its_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = seaweed_recipe()
    lines = _commands(block)
    (tmp_path / "s3.json").write_text(_heredoc(block, "s3.json"))
    weed_line = next(line for line in lines if line.startswith("weed mini "))
    mb_line = next(line for line in lines if " s3 mb " in line)
    exports = dict(
        word.split("=", 1)
        for line in lines
        if line.startswith("export ") and "$(" not in line
        for word in shlex.split(line)[1:]
    )

    # As written, except where a shared test machine needs its own: the data
    # folder, every port (free ones), and weed's debug port and local sockets
    # (fixed defaults that two stores on one host would share).
    ports: dict[str, int] = {}  # the recipe's port -> a free one
    flags: dict[str, int] = {}  # flag -> the free port it got
    args = []
    for word in shlex.split(weed_line.rstrip("&").strip()):
        if word.startswith("-dir="):
            word = f"-dir={tmp_path / 'data'}"
        elif (m := _PORT_FLAG.match(word)) and m.group(2) != "0":
            ports[m.group(2)] = flags[m.group(1)] = free_port()
            word = f"-{m.group(1)}={flags[m.group(1)]}"
        args.append(word)
    assert args[:2] == ["weed", "mini"]
    assert "-s3.port.iceberg=0" in args and "-s3.port.lance=0" in args
    assert any(a.startswith("-s3.port.grpc=") for a in args)  # gRPC ports named, not HTTP + 10000
    (tmp_path / "data").mkdir()
    weed = str(WEED if WEED.exists() else shutil.which("weed") or WEED)
    args = [
        weed,
        *args[1:],
        f"-debug.port={free_port()}",
        f"-s3.localSocket={tmp_path / 's3.sock'}",
        f"-filer.localSocket={tmp_path / 'filer.sock'}",
    ]
    s3_port = flags["s3.port"]
    env_words = shlex.split(mb_line)
    creds = dict(w.split("=", 1) for w in env_words if re.match(r"^[A-Z_]+=", w))
    command = [w for w in env_words if not re.match(r"^[A-Z_]+=", w)]
    endpoint = next(command[i + 1] for i, w in enumerate(command) if w == "--endpoint-url")
    old_port = endpoint.rsplit(":", 1)[1]
    command = [w.replace(f":{old_port}", f":{ports[old_port]}") for w in command]
    bucket = command[-1].removeprefix("s3://")

    log = (tmp_path / "weed.log").open("wb")
    proc = subprocess.Popen(
        args, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp_path)}
    )
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        )
        deadline = time.monotonic() + 120
        while True:  # "wait for weed to answer before s3 mb"
            assert proc.poll() is None, (tmp_path / "weed.log").read_text(errors="replace")
            try:
                client.list_buckets()
                break
            except Exception:
                assert time.monotonic() < deadline, (tmp_path / "weed.log").read_text(errors="replace")
                time.sleep(0.25)
        aws = shutil.which("aws")
        if aws is not None:
            done = subprocess.run(
                [aws, *command[1:]],
                env={**os.environ, **creds, "AWS_DEFAULT_REGION": "us-east-1"},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        else:  # the same request the aws CLI sends
            client.create_bucket(Bucket=bucket)
        client.head_bucket(Bucket=bucket)

        # The rest of the recipe: mediagate stores and reads with exactly these settings and credentials.
        assert exports["MEDIAGATE_STORAGE_URL"].startswith(f"s3://{bucket}/")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(name, exports[name])
        prefix = exports["MEDIAGATE_STORAGE_URL"].removeprefix(f"s3://{bucket}/")
        store = S3Store(bucket, prefix, endpoint_url=f"http://127.0.0.1:{s3_port}")
        key = "AC" + "1" * 32 + "/ME" + "1" * 32
        assert store.put(key, [b"recipe"]).size == 6
        assert b"".join(store.stream(key)) == b"recipe"
        store.delete(key)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for flag, port in flags.items():  # gRPC sockets that ignore TMPDIR, named after their port
            if flag.endswith(".grpc"):
                service = flag.split(".")[0]
                Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108
