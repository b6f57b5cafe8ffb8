"""Run schemathesis against a real ``mediagate serve``, both inside a network
namespace that has nothing but loopback.

The fuzzer invents ``MediaUrl``, ``StatusCallback`` and ``SmsUrl`` hosts, and
the server really fetches media and delivers webhooks; in a namespace of its
own neither can reach anything but this server. The namespace is made by the
caller (``unshare --net``, which needs root); this script brings ``lo`` up,
*proves* the isolation (only ``lo``, no route off the machine) and refuses to
fuzz otherwise, then starts the server and ``schemathesis run``. PostgreSQL is
reached through its unix socket: a filesystem path, not the network.

    unshare --net -- python -m tests.support.fuzz_netns --database-url URL --data-dir DIR

The exit status is schemathesis's (0: every check passed), or 3 when the
namespace is not isolated.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import requests

from mediagate.carriers import ingress
from tests.support.server import ROOT, Account, RunningServer, running_server

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ST = Path(sys.executable).parent / "st"


def isolation_problems() -> list[str]:
    """Why this process could reach something other than loopback (empty: it cannot)."""
    problems = []
    # if_nameindex asks the kernel about this process's namespace (/sys/class/net
    # would show the namespace sysfs was mounted in).
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        problems.append(f"network interfaces {interfaces}, expected only lo")
    # Documentation/benchmark addresses: any route at all means a way out.
    for address in ("192.0.2.1", "198.18.0.1", "10.255.255.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((address, 9))  # UDP connect only picks a route; sends nothing
            except OSError as exc:
                if exc.errno != errno.ENETUNREACH:
                    problems.append(f"{address}: unexpected {exc!r}")
            else:
                problems.append(f"{address} is routable from here")
    return problems


def seed(server: RunningServer, account: Account, folder: Path) -> dict[str, str]:
    """Real resources for the hooks to aim at, so that fetch, delete, the 307 and
    the media hosts' 200s are fuzzed too, not only their 404s: a number, an API
    key, and inbound messages with auth-required and legacy public media."""
    auth = (account.sid, account.token)
    api = f"{server.base_url}/2010-04-01/Accounts/{account.sid}"
    server.assign_number(account.sid, "+15550001111")  # the operator's step (docs/security.md)
    number = requests.post(
        f"{api}/IncomingPhoneNumbers.json", data={"PhoneNumber": "+15550001111"}, auth=auth, timeout=30
    )
    number.raise_for_status()
    key = requests.post(f"{api}/Keys.json", data={"FriendlyName": "fuzz"}, auth=auth, timeout=30)
    key.raise_for_status()
    picture = folder / "seed.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    owner = ingress.resolve_owner(server.runtime, "+15550001111")
    found: dict[str, str] = {"PN": number.json()["sid"], "SK": key.json()["sid"]}
    for enforce in ("false", "true"):  # legacy public media first, then auth-required
        requests.post(
            f"{server.base_url}/v1/Accounts/{account.sid}/MessagingSettings",
            data={"EnforceMediaHttpAuth": enforce},
            auth=auth,
            timeout=30,
        ).raise_for_status()
        inbound = ingress.Inbound("+15550001111", "+15557779999", "seed", files=[ingress.LocalFile(picture)])
        message = ingress.deliver(server.runtime, owner, inbound)
        media = requests.get(f"{api}/Messages/{message.sid}/Media.json", auth=auth, timeout=30).json()
        found["MM"] = message.sid
        found["ME"] = media["media_list"][0]["sid"]
    content = requests.get(
        f"{api}/Messages/{found['MM']}/Media/{found['ME']}", auth=auth, allow_redirects=False, timeout=30
    )
    found["signed"] = content.headers["location"]  # the secured host's signed URL for the last media
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--max-examples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--phases", default="examples,fuzzing")
    args = parser.parse_args()

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    problems = isolation_problems()
    if problems:
        sys.stderr.write(
            "REFUSING TO FUZZ: not in an isolated network namespace: " + "; ".join(problems) + "\n"
        )
        return 3

    # The fuzzer's MediaUrls may point at this very server (loopback is all
    # there is), so let ingest reach loopback as the e2e servers do.
    with running_server(args.data_dir, args.database_url) as server:
        account = server.new_account("fuzz")
        seeded = seed(server, account, args.data_dir)
        command = [
            str(ST),
            "run",
            f"{server.base_url}/openapi.json",
            "--checks",
            CHECKS,
            "--auth",
            f"{account.sid}:{account.token}",
            "--phases",
            args.phases,
            "--max-examples",
            str(args.max_examples),
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "60",
            "--no-color",
            "--workers",
            "1",
        ]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
            "FUZZ_API_ACCOUNT": account.sid,
            "FUZZ_API_SEEDED": json.dumps(seeded),
            "PYTHONPATH": str(ROOT),  # for the hooks module
        }
        # In the data dir, so that schemathesis's cache (.schemathesis/) stays out of the checkout.
        result = subprocess.run(command, env=env, cwd=args.data_dir, check=False)
        if result.returncode != 0:
            sys.stdout.write("\n--- server log ---\n" + server.log()[-20000:] + "\n")
        return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
