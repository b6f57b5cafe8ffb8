"""The scale-out shape end to end (issue 11, docs/deploy.md): three
``mediagate serve`` processes on one PostgreSQL database, one SeaweedFS S3
bucket and one Redis, behind a real nginx doing round-robin. Everything goes
through the balancer with twilio-python and ``requests``; each process is also
asked directly, to show that every one of them serves what another stored and
honours what another changed.

The checks of changes (a deleted key, a promoted token, a changed setting, a
retired signing key) give every process ``BOUND`` (1 s, the documented
consistency bound) and then expect all of them to honour the change. The
signing-key refresh runs at its production default here (not the tests' fast
0.5 s), so what a process caches is only dropped in time by the cross-process
invalidation channel (branch hotpath).
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from mediagate.core import sids
from mediagate.media import signing_keys
from mediagate.runtime.context import build_runtime
from tests.support.carrier import carrier_auth
from tests.support.console_http import attempt_login
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.nginx import HTTP_TEMPS, NGINX, PREAMBLE, running_nginx, user_line
from tests.support.receiver import running_receiver
from tests.support.seaweed import ObjectStore
from tests.support.server import Account, RunningServer, free_port, running_server
from tests.support.shared_redis import REDIS_URL, own_prefix
from tests.support.slow import ONCE_DRIPPED, running_slow_server
from tests.support.webhooks import claim, inbound, settle

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = [
    pytest.mark.skipif(not NGINX.exists(), reason="nginx is not installed at /usr/sbin/nginx"),
    pytest.mark.system,
]

PROCESSES = 3
BOUND = 1.0  # seconds: every process honours a change this soon (docs/deploy.md)
TIMEOUT = 30
REFRESH = 5.0  # the signing-key refresh at its production default
# A fetch whose process died is taken up by another once its claim lapses: a short
# lease keeps the kill test about the crash, not about waiting out the default 30 s.
FETCH_LEASE = 2.0

BALANCER_CONF = (
    PREAMBLE
    + """\
http {{
    access_log off;
"""
    + HTTP_TEMPS
    + """\
    upstream mediagate {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://mediagate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""
)


@dataclass
class Cluster:
    url: str  # the balancer, which is every process's MEDIAGATE_PUBLIC_URL
    servers: list[RunningServer]  # behind it (server.base_url: one process directly)

    @property
    def live(self) -> list[RunningServer]:
        return [s for s in self.servers if s.process.poll() is None]

    def client(self, user: str, password: str, account_sid: str | None = None) -> Client:
        c = Client(user, password, account_sid)
        c.api.base_url = self.url
        c.accounts.base_url = self.url
        return c


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, object_store: ObjectStore) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scaleout")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        prefix = stack.enter_context(own_prefix())
        db_url = stack.enter_context(fresh_database("postgresql", tmp))
        env = {
            **object_store.env(),
            "MEDIAGATE_SECRET_KEY": secrets.token_hex(32),
            "MEDIAGATE_REDIS_URL": REDIS_URL,
            "MEDIAGATE_REDIS_KEY_PREFIX": prefix,
            "MEDIAGATE_PUBLIC_URL": url,
            "MEDIAGATE_TRUSTED_PROXIES": "127.0.0.1/32",
            "MEDIAGATE_SIGNING_KEY_REFRESH": str(REFRESH),
            "MEDIAGATE_MEDIA_FETCH_LEASE": str(FETCH_LEASE),
        }
        servers = [
            stack.enter_context(running_server(tmp / f"p{n}", db_url, **env)) for n in range(PROCESSES)
        ]
        upstreams = "\n".join(f"        server {urlsplit(s.base_url).netloc} max_fails=1 fail_timeout=30s;"
                              for s in servers)  # fmt: skip
        conf = BALANCER_CONF.format(user_line=user_line(), work=tmp / "nginx", port=port, servers=upstreams)
        stack.enter_context(running_nginx(tmp / "nginx", conf, url + "/healthz"))
        yield Cluster(url, servers)


def new_account(cluster: Cluster, name: str) -> Account:
    return cluster.servers[0].new_account(name)


def settled(cluster: Cluster, acct: Account, message_sid: str) -> MessageInstance:
    """The message once its MediaUrl fetch is over, through the balancer: the create
    answers ``queued`` at once and whichever process claims the fetch stores the media."""
    client = cluster.client(acct.sid, acct.token)
    return eventually(
        lambda: (m := client.messages(message_sid).fetch()).status != "queued" and m, timeout=60
    )


def create_media(cluster: Cluster, acct: Account, media_url: str) -> tuple[str, str]:
    """(message sid, media sid) of a message created through the balancer, its media stored."""
    msg = cluster.client(acct.sid, acct.token).messages.create(
        to="+15551230001", from_="+15557650001", media_url=[media_url]
    )
    done = settled(cluster, acct, str(msg.sid))
    assert done.num_media == "1", (done.status, done.error_code, done.error_message)
    (media,) = cluster.client(acct.sid, acct.token).messages(msg.sid).media.list()
    return str(msg.sid), str(media.sid)


def connected_to(servers: list[RunningServer], port: int) -> RunningServer | None:
    """The server process holding an established TCP connection to 127.0.0.1:``port``
    (the kernel's socket table, matched to each process's open sockets)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if int(remote.rsplit(":", 1)[1], 16) == port and state == "01":  # 01: ESTABLISHED
                inodes.add(f"socket:[{inode}]")
    for server in servers:
        fds = Path(f"/proc/{server.process.pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return server
            except OSError:
                continue  # closed meanwhile
    return None


def content_path(acct: Account, message_sid: str, media_sid: str) -> str:
    return f"/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}/Media/{media_sid}"


def requests_served(server: RunningServer, route: str) -> int:
    """Access-log lines of ``server`` for ``route`` (a route template)."""
    return sum(1 for line in server.log().splitlines() if "request" in line and route in line)


def test_media_stored_by_one_process_is_listed_redirected_and_served_by_every_process(
    cluster: Cluster, files: FileServer
) -> None:
    acct = new_account(cluster, "media")
    bodies = {n: png_bytes(3000 + n) for n in range(6)}
    made = {n: create_media(cluster, acct, files.add(f"/scale/{n}.png", body)) for n, body in bodies.items()}
    listed = cluster.client(acct.sid, acct.token).messages.list(limit=50)
    assert {m.sid for m in listed} >= {msg for msg, _ in made.values()}
    for n, (msg, me) in made.items():
        # Through the balancer, with the redirect followed.
        got = requests.get(
            cluster.url + content_path(acct, msg, me), auth=(acct.sid, acct.token), timeout=TIMEOUT
        )
        assert got.status_code == 200 and got.content == bodies[n]
        # From every process directly: its own 307, and the signed URL served from S3.
        for server in cluster.servers:
            r = requests.get(server.base_url + content_path(acct, msg, me), auth=(acct.sid, acct.token),
                             allow_redirects=False, timeout=TIMEOUT)  # fmt: skip
            assert r.status_code == 307, r.text
            location = urlsplit(r.headers["Location"])
            assert f"{location.scheme}://{location.netloc}" == cluster.url
            served = requests.get(f"{server.base_url}{location.path}?{location.query}", timeout=TIMEOUT)
            assert served.status_code == 200 and served.content == bodies[n], served.text
    # Round-robin: the creates through the balancer were spread over the processes.
    route = "/2010-04-01/Accounts/{account_sid}/Messages.json"
    assert sum(1 for s in cluster.servers if requests_served(s, route)) >= 2


def test_sign_in_failures_are_counted_across_processes(cluster: Cluster) -> None:
    user = sids.new_sid(sids.ACCOUNT)
    for _ in range(10):
        failed = attempt_login(requests.Session(), cluster.url, user, "wrong-" + "0" * 26)
        assert failed.status_code == 400, failed.text
    # The 11th is refused wherever it lands: through the balancer and at each process.
    assert attempt_login(requests.Session(), cluster.url, user, "wrong").status_code == 429
    for server in cluster.servers:
        assert attempt_login(requests.Session(), server.base_url, user, "wrong").status_code == 429


def test_webhooks_through_the_balancer_are_delivered_exactly_once(cluster: Cluster) -> None:
    acct = new_account(cluster, "hooks")
    with running_receiver() as receiver:
        front = _as_server(cluster)
        number = claim(front, acct, receiver.url("/scale"))
        sent = [inbound(front, acct, number, f"b{n}") for n in range(12)]
        rows = settle(
            front, acct, lambda rows: len(rows) == 12 and all(r["status"] == "delivered" for r in rows)
        )
        assert all(r["attempts"] == 1 for r in rows)
        got = sorted(h.form["MessageSid"] for h in receiver.received("/scale"))
        assert got == sorted(sent)


def _as_server(cluster: Cluster) -> RunningServer:
    """The balancer in the shape the webhook helpers take (base URL + runtime)."""
    first = cluster.servers[0]
    return RunningServer(cluster.url, first.env, first.runtime, first.process, first.log_path)


def _everywhere(cluster: Cluster, check: Any) -> list[str]:
    """Give the processes BOUND, then ask each: the ones that do not honour the change."""
    time.sleep(BOUND)
    return [s.base_url for s in cluster.live if not check(s)]


def test_a_deleted_key_is_refused_by_every_process(cluster: Cluster) -> None:
    acct = new_account(cluster, "keys")
    key = cluster.client(acct.sid, acct.token).new_keys.create(friendly_name="short-lived")
    listing = f"/2010-04-01/Accounts/{acct.sid}/Messages.json"

    def status(server: RunningServer) -> int:
        return requests.get(
            server.base_url + listing, auth=(key.sid, key.secret), timeout=TIMEOUT
        ).status_code

    assert [status(s) for s in cluster.servers] == [200] * PROCESSES  # every process has used it
    cluster.client(acct.sid, acct.token).keys(key.sid).delete()
    assert _everywhere(cluster, lambda s: status(s) == 401) == []


def test_a_promoted_token_replaces_the_old_one_on_every_process(cluster: Cluster) -> None:
    acct = new_account(cluster, "tokens")
    settings_path = f"/v1/Accounts/{acct.sid}/MessagingSettings"

    def status(server: RunningServer, token: str) -> int:
        return requests.get(
            server.base_url + settings_path, auth=(acct.sid, token), timeout=TIMEOUT
        ).status_code

    assert [status(s, acct.token) for s in cluster.servers] == [200] * PROCESSES
    made = requests.post(
        cluster.url + "/v1/AuthTokens/Secondary", auth=(acct.sid, acct.token), timeout=TIMEOUT
    )
    assert made.status_code == 201, made.text
    secondary = made.json()["secondary_auth_token"]
    promoted = requests.post(
        cluster.url + "/v1/AuthTokens/Promote", auth=(acct.sid, acct.token), timeout=TIMEOUT
    )
    assert promoted.status_code == 200, promoted.text
    assert _everywhere(cluster, lambda s: status(s, acct.token) == 401 and status(s, secondary) == 200) == []


def test_a_changed_setting_is_seen_by_every_process(cluster: Cluster) -> None:
    acct = new_account(cluster, "setting")
    path = f"/v1/Accounts/{acct.sid}/MessagingSettings"

    def enforced(server: RunningServer) -> bool:
        r = requests.get(server.base_url + path, auth=(acct.sid, acct.token), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return bool(r.json()["enforce_media_http_auth"])

    before = [enforced(s) for s in cluster.servers]
    assert len(set(before)) == 1
    changed = requests.post(cluster.url + path, data={"EnforceMediaHttpAuth": str(not before[0]).lower()},
                            auth=(acct.sid, acct.token), timeout=TIMEOUT)  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert _everywhere(cluster, lambda s: enforced(s) is (not before[0])) == []


def test_a_retired_signing_key_stops_working_on_every_process(cluster: Cluster, files: FileServer) -> None:
    acct = new_account(cluster, "retire")
    msg, me = create_media(cluster, acct, files.add("/scale/retire.png", png_bytes(2000)))
    r = requests.get(cluster.url + content_path(acct, msg, me), auth=(acct.sid, acct.token),
                     allow_redirects=False, timeout=TIMEOUT)  # fmt: skip
    signed = urlsplit(r.headers["Location"])

    def serves(server: RunningServer) -> bool:
        got = requests.get(f"{server.base_url}{signed.path}?{signed.query}", timeout=TIMEOUT)
        return got.status_code == 200

    assert all(serves(s) for s in cluster.servers)
    # As `mediagate signing-keys rotate --retire-old` does: the new key is
    # published and adopted by every process first, then the old one retired.
    # (With the servers' refresh interval: that is what the wait is derived from.)
    settings = cluster.servers[0].runtime.settings.model_copy(update={"signing_key_refresh": REFRESH})
    operator = build_runtime(settings, migrate=False)
    try:
        _, retired = signing_keys.rotate(operator, retire_old=True, actor="test")
    finally:
        operator.close()
    assert retired
    assert _everywhere(cluster, lambda s: not serves(s)) == []


def test_a_process_killed_mid_ingest_loses_nothing_acknowledged(cluster: Cluster, files: FileServer) -> None:
    """Last in this module: it kills one of the processes. The create answers
    ``queued`` at once (Twilio's behaviour); the media are fetched afterwards by
    whichever process claims the fetch. That process is killed mid-fetch: the
    acknowledged message is not lost, another process takes the fetch over once
    the claim lapses and stores the media."""
    acct = new_account(cluster, "kill")
    before = [
        create_media(cluster, acct, files.add(f"/scale/k{n}.png", png_bytes(2500 + n))) for n in range(4)
    ]
    client = cluster.client(acct.sid, acct.token)
    with running_slow_server() as slow:
        # A media host that drips its bytes to the first fetch, and answers whole afterwards.
        acked = client.messages.create(
            to="+15551230001", from_="+15557650001", media_url=[slow.url("/drip-once/k.png")]
        )
        assert acked.status == "queued" and acked.num_media == "0"
        slow.wait_for(1, "/drip-once/k.png")  # a process is mid-ingest: that one is the victim
        victim = eventually(lambda: connected_to(cluster.live, slow.port))
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(30)
        # Another process fetches again once the dead one's claim lapses.
        done = settled(cluster, acct, str(acked.sid))
        assert len(slow.received("/drip-once/k.png")) >= 2
    assert done.num_media == "1", (done.status, done.error_code, done.error_message)
    (kept,) = client.messages(acked.sid).media.list()
    before.append((str(acked.sid), str(kept.sid)))
    # The balancer keeps serving with the others, and everything acknowledged is there.
    after = [
        create_media(cluster, acct, files.add(f"/scale/a{n}.png", png_bytes(2600 + n))) for n in range(6)
    ]
    listed = {m.sid for m in cluster.client(acct.sid, acct.token).messages.list(limit=100)}
    for msg, me in before + after:
        assert msg in listed
        got = requests.get(
            cluster.url + content_path(acct, msg, me), auth=(acct.sid, acct.token), timeout=TIMEOUT
        )
        assert got.status_code == 200 and got.content.startswith(b"\x89PNG"), got.text
    got = requests.get(
        cluster.url + content_path(acct, *before[-1]), auth=(acct.sid, acct.token), timeout=TIMEOUT
    )
    assert got.status_code == 200 and got.content == ONCE_DRIPPED
    for server in cluster.live:
        assert requests.get(server.base_url + "/readyz", timeout=TIMEOUT).status_code == 200
    assert carrier_auth(cluster.live[0])  # the database still answers the survivors' callers
