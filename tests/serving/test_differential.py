"""The RSGI fast path and Starlette answer every media request alike.

Generated requests (paths, methods, query and header spellings, content
types, Range and conditional headers, revoked/deleted/expired media,
cold and warm memory) go through ``FastPaths.answer`` on a stand-in for
granian's scope and protocol (falling back to Starlette when it declines, as
``serving/app.py`` does) and through the Starlette app alone
(``httpx.ASGITransport``), in process. Status, headers (``date`` and
``x-request-id`` aside), bodies and the durable access events must be the
same. On both databases with local files (the only storage the fast
download path serves), and on S3, where the fast path answers the content
URL's 307 only: every other answer is Starlette's, after a decline that must
leave no trace (no answer sent, no access event recorded).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediagate.accounts import accounts
from mediagate.cluster import invalidation as inv
from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.media import media, revocation
from mediagate.media.delivery import object_path
from mediagate.media.direct_delivery import set_direct
from mediagate.media.maintenance import secure_legacy
from mediagate.messaging import messages, number_pool
from mediagate.runtime.context import Runtime, build_runtime
from mediagate.serving.fast import FastPaths
from tests.support.databases import fresh_database
from tests.support.seaweed import ObjectStore
from tests.support.shapes import SHAPES, shape_id

BASE = "http://mediagate.test"
CLIENT = ("127.0.0.1", 40000)
IGNORED = {"date", "x-request-id"}
# The signed URL in a 307 is signed at the moment it is answered.
MOMENT = ("Expires", "Issued", "Signature")

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
KINDS = [
    ("image/png", PNG, "photo.png"),
    ("image/jpeg", b"\xff\xd8\xff\xe0" + b"j" * 300, None),
    ("image/gif", b"GIF89a" + b"g" * 40, "anim.GIF"),
    ("text/vcard", b"BEGIN:VCARD\r\nFN:Ana\r\nEND:VCARD\r\n", "ana.vcf"),
    ("application/pdf", b"%PDF-1.4\n" + b"p" * 500, "r\u00e9sum\u00e9.pdf"),
    ("text/html", b"<script>alert(1)</script>", 'evil".html'),
    ("image/svg+xml", b"<svg onload='alert(1)'/>", "x.svg"),
    ("application/octet-stream", b"\x00\x01\x02" * 90, "blob"),
    ("text/plain; charset=iso-8859-1", b"caf\xe9", "note.txt"),
    ("image/png", b"", "empty.png"),
]


@dataclass
class Item:
    account_sid: str
    message_sid: str
    media_sid: str
    url: str  # path and signed query on the secured host
    state: str
    sha256: str
    ctype: str


@dataclass
class World:
    rt: Runtime
    edge: str
    items: list[Item] = field(default_factory=list)
    auth: dict[str, str] = field(default_factory=dict)  # account -> Basic header


def _basic(sid: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{secret}".encode()).decode()


def _message(rt: Runtime, account_sid: str, number: str) -> str:
    number_pool.assign(rt, number, account_sid)
    new = messages.NewMessage("+15551230001", number, "hi", [])
    return messages.create(rt, account_sid, new, actor=account_sid).sid


def build_world(rt: Runtime) -> World:
    edge = urlsplit(rt.settings.secure_media_url).path.rstrip("/")
    world = World(rt, edge)
    rt.signer.start()  # keys refreshed in the background, as in a server
    rt.direct_accounts.load(rt)
    made = accounts.create(rt, "differential")
    acct = made.account.sid
    world.auth[acct] = _basic(acct, made.auth_token)
    msg = _message(rt, acct, "+15557650001")

    def add(
        ctype: str, body: bytes, name: str | None, state: str, account: str = acct, message: str = msg
    ) -> Item:
        row = media.add(rt, account, message, ctype, [body], filename=name)
        path = object_path(account, row.sid)
        if state == "expired":
            query = rt.signer.sign(path, now=time.time() - 3600, ttl=60)
        else:
            query = rt.signer.sign(path)
        item = Item(account, message, row.sid, f"{world.edge}{path}?{query}", state, row.sha256, ctype)
        world.items.append(item)
        return item

    for ctype, body, name in KINDS:
        add(ctype, body, name, "ok")
    add("image/png", PNG, None, "expired")
    revoked = add("image/jpeg", b"\xff\xd8" + b"r" * 64, None, "revoked")
    time.sleep(0.002)  # a later millisecond than the URL's Issued
    revocation.revoke_media(rt, acct, revoked.media_sid, actor="test")
    deleted = add("application/pdf", b"%PDF" + b"d" * 64, None, "deleted")
    media.delete(rt, acct, msg, deleted.media_sid, actor="test")
    # Not here: a file removed under a row still remembered. Deletion drops the
    # memory first; the moment before another process's invalidation arrives is
    # the documented race (tests/e2e/test_fast_paths.py).
    # An account that asked for direct delivery: its content URL answers the bytes.
    direct = accounts.create(rt, "direct")
    dacct = direct.account.sid
    world.auth[dacct] = _basic(dacct, direct.auth_token)
    set_direct(rt, dacct, True)
    add(
        "text/vcard",
        b"BEGIN:VCARD\r\nEND:VCARD\r\n",
        "d.vcf",
        "direct",
        dacct,
        _message(rt, dacct, "+15557650002"),
    )
    rt.direct_accounts.load(rt)
    # Legacy media (created while the account did not enforce HTTP auth): the
    # public host serves it while its account is active, and not once suspended.
    for name, state in (("legacy", "public"), ("suspended", "public-suspended")):
        # The second one a subaccount: only its parent may suspend it.
        legacy = (
            accounts.create(rt, name) if state == "public" else accounts.create_subaccount(rt, acct, name)
        )
        lacct = legacy.account.sid
        world.auth[lacct] = _basic(lacct, legacy.auth_token)
        accounts.set_enforcement(rt, lacct, False, actor="test", via="test")
        lmsg = _message(rt, lacct, "+1555765000" + ("3" if state == "public" else "4"))
        for ctype, body, filename in KINDS[:4]:
            add(ctype, body, filename, state, lacct, lmsg)
        if state == "public-suspended":
            accounts.update(rt, lacct, actor_account=acct, friendly_name=None, status="suspended")
    rt.access_audit.take(10**6)
    return world


# -- the fake granian ------------------------------------------------------------


class FakeHeaders:
    """granian's request headers: names lower-case, every value kept in order."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = [(k.lower(), v) for k, v in pairs]

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self._pairs:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self._pairs if k == key]

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._pairs)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


@dataclass
class FakeScope:
    method: str
    path: str
    query_string: str
    headers: FakeHeaders
    proto: str = "http"
    scheme: str = "http"
    http_version: str = "1.1"
    client: str = f"{CLIENT[0]}:{CLIENT[1]}"
    server: str = "127.0.0.1:80"


class FakeProto:
    def __init__(self) -> None:
        self.sent: tuple[int, list[tuple[str, str]], bytes] | None = None

    def _keep(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        assert self.sent is None, "answered twice"
        self.sent = (status, headers, body)

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self._keep(status, headers, b"")

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._keep(status, headers, body)

    def response_file(self, status: int, headers: list[tuple[str, str]], file: str) -> None:
        with open(file, "rb") as f:  # what granian would send
            self._keep(status, headers, f.read())


# -- requests ----------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    cold: bool
    item: int


def _spell(name: str, how: int) -> str:
    if how == 1:
        return name.upper()
    if how == 2:
        return name.title()
    return name


def _encode_name(name: str, which: int) -> str:
    """A percent-encoded copy of one character of the name (``Signatur%65``)."""
    i = which % len(name)
    return name[:i] + f"%{ord(name[i]):02X}" + name[i + 1 :]


EXTRA = st.sampled_from(
    [
        "",
        "",
        "",
        "",
        "",
        "&Download=1",
        "&Download=0&Download=1",
        "&Download=1&Download=0",
        "&Downloa%64=1",
        "&Signatur%65=AAAA",
        "&Expire%73=1",
        "&Key%2DPair%2DId=KX",
        "&Issued=1",
        "&signature=lower",
        "&&x=1&",
        "&a+b=c+d",
        "&Signature+=x",
    ]
)
RANGES = st.sampled_from(
    [None, "bytes=0-0", "bytes=1-", "bytes=-5", "bytes=0-1,3-4", "bytes=999999-", "bytes=-0", "bytes=abc",
     "items=0-1", "bytes=+3-", "bytes=1_0-", "bytes=5-2", "bytes=0-999999"]
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn, world: World) -> Req:
    index = draw(st.integers(0, len(world.items) - 1))
    item = world.items[index]
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST"]))
    headers: list[tuple[str, str]] = []
    etag = f'"{item.sha256}"'
    rng = draw(RANGES) if draw(st.booleans()) else None
    if rng is not None:
        headers.append((_spell("Range", draw(st.integers(0, 2))), rng))
        if draw(st.booleans()):
            headers.append(("Range", "bytes=2-3"))  # repeated: the first one counts
    if draw(st.booleans()):
        headers.append(("If-Range", draw(st.sampled_from([etag, "W/" + etag, '"other"']))))
    if draw(st.booleans()):
        headers.append(
            ("If-None-Match", draw(st.sampled_from([etag, "*", "W/" + etag, '"other"', f'"x", {etag}'])))
        )
    if draw(st.booleans()):
        headers.append(("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"))
    cold = draw(st.booleans())
    target = draw(st.sampled_from(["secure", "secure", "secure", "content"]))
    if target == "content":
        path = f"/2010-04-01/Accounts/{item.account_sid}/Messages/{item.message_sid}/Media/{item.media_sid}"
        auth = draw(st.sampled_from(["good", "good", "wrong", "none", "twice"]))
        good = world.auth[item.account_sid]
        if auth == "good":
            headers.append(("Authorization", good))
        elif auth == "wrong":
            headers.append(("Authorization", good[:-4] + "AAA="))
        elif auth == "twice":
            headers += [("Authorization", good), ("Authorization", good)]
        return Req(method, path, "", tuple(headers), cold, index)
    if item.state.startswith("public") and draw(st.booleans()):
        # The public host: the same media by its stable, unsigned URL.
        path = item.url.partition("?")[0].replace("/_media/secure/", "/_media/public/")
        if draw(st.integers(0, 9)) == 0:
            path = path.replace(item.media_sid, item.media_sid[:-1] + "g")
        return Req(method, path, draw(EXTRA), tuple(headers), cold, index)
    path, _, query = item.url.partition("?")
    shapes = ["valid"] * 6 + ["tampered", "bad-sid", "deeper", "unsigned", "encoded"]
    shape = draw(st.sampled_from(shapes))
    if shape == "tampered":
        query = query.replace("Signature=", "Signature=A", 1)
    elif shape == "bad-sid":
        path = path.replace(item.media_sid, item.media_sid[:-1] + "g")
    elif shape == "deeper":
        path += "/x"
    elif shape == "unsigned":
        query = ""
    elif shape == "encoded":
        # The signed parameters' names spelt with percent-escapes: the same URL.
        names = ("Expires", "Signature", "Key-Pair-Id", "Issued")
        pick = draw(st.sampled_from(names))
        query = query.replace(f"{pick}=", f"{_encode_name(pick, draw(st.integers(0, 20)))}=", 1)
    query += draw(EXTRA)
    return Req(method, path, query, tuple(headers), cold, index)


# -- the two ways ----------------------------------------------------------------------

Answer = tuple[int, list[tuple[str, str]], bytes]


class Harness:
    def __init__(self, world: World) -> None:
        self.world = world
        self.app = create_app(world.rt)
        self.fast = FastPaths(self.app)
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=CLIENT), base_url=BASE, timeout=30
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()

    def starlette(self, req: Req) -> Answer:
        url = req.path + ("?" + req.query if req.query else "")
        r = self.loop.run_until_complete(
            self.client.request(req.method, url, headers=list(req.headers), follow_redirects=False)
        )
        return r.status_code, [(k.lower(), v) for k, v in r.headers.multi_items()], r.content

    def rsgi(self, req: Req) -> tuple[Answer, bool]:
        """The fast path, or Starlette when it declines (``serving/app.py``)."""
        scope = FakeScope(req.method, req.path, req.query, FakeHeaders(list(req.headers)))
        proto = FakeProto()
        if self.fast.answer(scope, proto):
            assert proto.sent is not None
            return proto.sent, True
        assert proto.sent is None, "declined after sending"
        return self.starlette(req), False

    def forget(self, req: Req) -> None:
        """Cold: this process remembers nothing about the media (as after an invalidation)."""
        self.world.rt.invalidation.publish(inv.MEDIA, self.world.items[req.item].media_sid)

    def events(self) -> list[tuple[Any, ...]]:
        return [tuple(e)[1:] for e in self.world.rt.access_audit.take(10**6)]  # without the time


def _normal(answer: Answer, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
    status, headers, body = answer
    out = []
    for name, value in headers:
        if name in IGNORED:
            continue
        if name == "location":
            base, _, query = value.partition("?")
            kept = [p for p in query.split("&") if p.partition("=")[0] not in MOMENT]
            value = base + "?" + "&".join(kept)
        out.append((name, value))
    return status, sorted(out), b"" if method == "HEAD" else body


@pytest.fixture
def harness(runtime: Runtime) -> Iterator[Harness]:
    h = Harness(build_world(runtime))
    yield h
    h.close()


@pytest.fixture(params=SHAPES, ids=shape_id)
def any_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """``harness`` on every (database, storage) shape, S3 included."""
    backend, storage = request.param
    extra: dict[str, Any] = {}
    if storage == "s3":
        store: ObjectStore = request.getfixturevalue("object_store")
        extra = {"storage_url": f"s3://{store.new_bucket()}/diff", "s3_endpoint_url": store.endpoint_url}
    with fresh_database(backend, tmp_path) as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            secret_key=secrets.token_hex(32),
            public_url="http://mediagate.test",
            allow_private_media_urls=True,
            **extra,
        )
        rt = build_runtime(settings)
        try:
            h = Harness(build_world(rt))
            try:
                yield h
            finally:
                h.close()
        finally:
            rt.close()


def test_both_transports_answer_alike(any_harness: Harness) -> None:
    harness = any_harness
    local = media.plain_local_files(harness.world.rt)
    fast_answers: list[int] = []
    fast_public: list[int] = []
    compared: list[Req] = []
    statuses: set[int] = set()

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(req=requests(harness.world))
    def check(req: Req) -> None:
        harness.events()
        if req.cold:
            harness.forget(req)
        alone = harness.starlette(req)
        alone_events = harness.events()
        if req.cold:
            harness.forget(req)
        both, fast = harness.rsgi(req)
        both_events = harness.events()
        assert _normal(both, req.method) == _normal(alone, req.method), (req, fast)
        assert both_events == alone_events, (req, fast)
        statuses.add(both[0])
        compared.append(req)
        if fast:
            fast_answers.append(both[0])
            if req.path.startswith("/_media/public/"):
                fast_public.append(both[0])

    check()
    # The comparison means something only if the fast path answered a fair share.
    assert len(compared) >= 250, len(compared)
    assert {200, 206, 304, 307, 400, 401, 403, 404, 405, 416} <= statuses, statuses
    if local:
        assert len(fast_answers) >= 40 and fast_answers.count(200) >= 20, sorted(fast_answers)
        assert 200 in fast_public, fast_public
    else:
        # Remote bytes are Starlette's to stream: the fast path answered the 307s only.
        assert fast_answers and set(fast_answers) == {307}, sorted(fast_answers)


def _signed(harness: Harness, state: str, ctype: str) -> Item:
    return next(i for i in harness.world.items if i.state == state and i.ctype == ctype)


def test_vcard_twice_with_one_url_has_one_answer(harness: Harness) -> None:
    """Cold, then warm: the same Content-Type (with its charset) and Last-Modified.
    The fast path used to drop both (``text/vcard`` without ``Last-Modified``)."""
    item = _signed(harness, "ok", "text/vcard")
    path, _, query = item.url.partition("?")
    req = Req("GET", path, query, (), False, harness.world.items.index(item))
    cold = harness.starlette(req)
    warm, fast = harness.rsgi(req)
    assert fast
    assert _normal(warm, "GET") == _normal(cold, "GET")
    headers = dict(warm[1])
    assert headers["content-type"] == "text/vcard; charset=utf-8"
    assert "last-modified" in headers


@pytest.mark.parametrize("extra", ["&Signatur%65=AAAA", "&Expire%73=1", "&Downloa%64=1", "&Key-Pair-I%64=K"])
def test_an_encoded_copy_of_a_signed_name_is_one_answer(harness: Harness, extra: str) -> None:
    """A percent-encoded name is the same name: a repeated signed parameter is
    refused warm as cold, and an encoded ``Download`` makes an attachment both ways.
    The fast path used to compare undecoded names and serve 200 inline."""
    item = _signed(harness, "ok", "image/png")
    path, _, query = item.url.partition("?")
    index = harness.world.items.index(item)
    req = Req("GET", path, query + extra, (), True, index)
    harness.forget(req)
    cold = harness.starlette(req)
    assert harness.starlette(Req("GET", path, query, (), False, index))[0] == 200  # remembered now
    warm, _ = harness.rsgi(req)
    assert _normal(warm, "GET") == _normal(cold, "GET")
    if extra == "&Downloa%64=1":
        assert warm[0] == 200 and dict(warm[1])["content-disposition"].startswith("attachment")
    else:
        assert warm[0] == 403 and b'"invalid"' in warm[2]


def test_direct_delivery_once_warm_is_sent_by_the_fast_path(any_harness: Harness) -> None:
    """Direct delivery asks the same decision on both transports: once the
    credential, the row and the file are remembered, the fast path sends the
    file itself, with the same headers and the same audit event as Starlette.
    On S3 it declines warm as cold, and the decline records nothing: one audit
    event per request, Starlette's."""
    harness = any_harness
    local = media.plain_local_files(harness.world.rt)
    item = _signed(harness, "direct", "text/vcard")
    path = f"/2010-04-01/Accounts/{item.account_sid}/Messages/{item.message_sid}/Media/{item.media_sid}"
    auth = ("Authorization", harness.world.auth[item.account_sid])
    index = harness.world.items.index(item)
    for method in ("GET", "HEAD"):
        req = Req(method, path, "", (auth,), True, index)
        harness.events()
        harness.forget(req)
        cold, fast = harness.rsgi(req)
        cold_events = harness.events()
        assert not fast and cold[0] == 200
        warm, fast = harness.rsgi(req)
        assert fast == local, "answered from memory: local files only"
        assert _normal(warm, method) == _normal(cold, method)
        assert harness.events() == cold_events and [e[0] for e in cold_events] == ["api"]
    # Refusals stay Starlette's, decided from the database.
    wrong = Req("GET", path, "", (("Authorization", auth[1][:-4] + "AAA="),), False, index)
    answer, fast = harness.rsgi(wrong)
    assert not fast and answer[0] == 401
    ranged = Req("GET", path, "", (auth, ("Range", "bytes=0-3")), False, index)
    answer, fast = harness.rsgi(ranged)
    assert not fast and answer[0] == 206 and answer[2] == b"BEGI"


def test_the_public_host_once_warm_is_sent_by_the_fast_path(any_harness: Harness) -> None:
    """Legacy media of an active account: from memory once looked up, with the
    same answer and access event; a suspended account's stays a 404, decided
    from the database. On S3 Starlette answers, warm as cold, alike."""
    harness = any_harness
    local = media.plain_local_files(harness.world.rt)
    item = _signed(harness, "public", "image/png")
    path = item.url.partition("?")[0].replace("/_media/secure/", "/_media/public/")
    index = harness.world.items.index(item)
    req = Req("GET", path, "", (), True, index)
    harness.events()
    harness.forget(req)
    cold, fast = harness.rsgi(req)
    cold_events = harness.events()
    assert not fast and cold[0] == 200 and cold[2] == PNG
    warm, fast = harness.rsgi(req)
    assert fast == local and _normal(warm, "GET") == _normal(cold, "GET")
    assert harness.events() == cold_events and [e[:2] for e in cold_events] == [("public", item.account_sid)]
    hidden = _signed(harness, "public-suspended", "image/png")
    path = hidden.url.partition("?")[0].replace("/_media/secure/", "/_media/public/")
    for _ in range(2):
        answer, fast = harness.rsgi(Req("GET", path, "", (), False, harness.world.items.index(hidden)))
        assert not fast and answer[0] == 404
    # Secured later (legacy media made to require auth): refused at once, not from memory.
    for _progress in secure_legacy(harness.world.rt, item.account_sid, actor="test"):
        pass
    answer, fast = harness.rsgi(req)
    assert not fast and answer[0] == 404


def test_direct_delivery_of_the_bytes_is_a_download_on_both_transports(harness: Harness) -> None:
    """Direct delivery sends the bytes instead of a redirect: a GET answered 200
    (or 206) is a download for retention's "after first download" rule, a HEAD
    or a 304 an access only, as on the media hosts. It used to be recorded as
    the redirect's access only, so directly delivered media never counted as
    downloaded."""
    rt = harness.world.rt
    item = _signed(harness, "direct", "text/vcard")
    path = f"/2010-04-01/Accounts/{item.account_sid}/Messages/{item.message_sid}/Media/{item.media_sid}"
    auth = ("Authorization", harness.world.auth[item.account_sid])
    index = harness.world.items.index(item)
    revalidate = ("If-None-Match", f'"{item.sha256}"')
    cases = [("HEAD", (auth,), False), ("GET", (auth, revalidate), False), ("GET", (auth,), True)]
    for warm in (False, True):
        for method, headers, downloaded in cases:
            req = Req(method, path, "", headers, not warm, index)
            rt.access.take()
            if not warm:
                harness.forget(req)
            answer, fast = harness.rsgi(req)
            assert fast == warm and answer[0] == (304 if revalidate in headers else 200)
            seen = rt.access.take()[item.media_sid]
            assert (seen.first_downloaded is not None) == downloaded, (method, headers, warm)
