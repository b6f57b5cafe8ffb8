"""``peers``: mediagate's authenticated downloads next to Synapse and nginx (issue 24).

Per object size (``Config.peer_sizes``: 100 KB and 1 MB), four sides in alternating
rounds (order reversed every round), wrk on loopback with the same settings:

* ``signed``: mediagate's secured host, the signed URL the 307 hands out (no
  auth header: the signature is the credential);
* ``direct``: mediagate's content URL with Basic auth for an account in direct
  delivery (``MediaDelivery Mode=direct``): credential, permission, account
  status, then the bytes in one hop;
* ``synapse``: Synapse's authenticated media download with a bearer token, the
  same bytes uploaded to it (bench/synapse.py);
* ``nginx``: nginx ``sendfile`` of the same file, no auth at all (the ceiling).

Then the authenticated 307 (the content URL of an account in redirect mode)
against nginx's static 307 with the same ``Location``. Every run is metered
(harness.metered): the server's CPU seconds over the requests it answered,
which moves much less with the machine's other load than req/s does, and the
cores the rest of the machine used meanwhile.

``Config.peer_synapse`` off (the quick configuration of the smoke test) leaves
Synapse out: everything else runs the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import synapse
from bench.harness import (
    BenchError,
    Mediagate,
    Nginx,
    WrkResult,
    metered,
    process_tree,
    running_nginx,
    wrk,
)
from bench.report import load_average
from bench.scenarios import Config, Site, alternate, png_bytes
from mediagate.accounts import accounts

MB = 1024 * 1024


def _fast_share(server: Mediagate) -> dict[str, float]:
    """Per route template, the share of answered requests the RSGI fast path
    answered (mediagate_fast_path_answers_total over mediagate_http_requests_total),
    from the server's own /metrics."""
    text = httpx.get(server.base_url + "/metrics", timeout=30).raise_for_status().text
    answered: dict[str, float] = {}
    fast: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(
            r"(mediagate_http_requests_total|mediagate_fast_path_answers_total)\{(.*)\} (\S+)$", line
        )
        if m is None:
            continue
        route = re.search(r'route="([^"]*)"', m.group(2))
        if route is None:
            continue
        into = answered if m.group(1) == "mediagate_http_requests_total" else fast
        into[route.group(1)] = into.get(route.group(1), 0.0) + float(m.group(3))
    return {route: fast.get(route, 0.0) / n for route, n in answered.items() if n >= 100}


def _direct_site(s: Site) -> Site:
    """A second account on the same server, switched to direct delivery."""
    created = accounts.create(s.runtime, "bench-direct")
    d = Site(s.server, s.runtime, created.account.sid, created.auth_token)
    r = httpx.post(
        d.url(f"/v1/Accounts/{d.account_sid}/MediaDelivery"),
        data={"Mode": "direct"},
        headers={"Authorization": d.auth},
        timeout=30,
    )
    if r.status_code not in (200, 201):
        raise BenchError(f"MediaDelivery Mode=direct: {r.status_code} {r.text[:300]}")
    return d


def _expect(r: httpx.Response, status: int, body: bytes | None, what: str) -> None:
    if r.status_code != status or (body is not None and r.content != body):
        raise BenchError(f"{what}: {r.status_code}, {len(r.content)} bytes, not {status}")


def run(work: Path, nginx: Nginx, s: Site, cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    """On ``s``, the bench's server on ``cfg.peer_backend``, beside ``nginx`` (one worker)."""
    out: dict[str, Any] = {
        "connections": cfg.connections,
        "backend": cfg.peer_backend,
        "synapse": synapse.version() if cfg.peer_synapse else None,
        "loadavg_start": load_average(),
        "sizes": {},
    }
    log(f"  peers: mediagate ({cfg.peer_backend}) vs {'Synapse and ' if cfg.peer_synapse else ''}nginx")
    d = _direct_site(s)
    if cfg.peer_synapse:
        with synapse.running_synapse(work) as peer:
            _downloads(cfg, nginx, s, d, peer, out, log)
    else:
        _downloads(cfg, nginx, s, d, None, out, log)
    out["redirect"] = _redirect(work, cfg, nginx, s, log)
    out["fast_share"] = _fast_share(s.server)
    out["loadavg_end"] = load_average()
    return out


def _downloads(
    cfg: Config,
    nginx: Nginx,
    s: Site,
    d: Site,
    peer: synapse.Synapse | None,
    out: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    mediagate = process_tree(s.server.pid)
    token = peer.register("bench") if peer is not None else ""
    for size in cfg.peer_sizes:
        data = png_bytes(size)
        source = f"{nginx.base_url}/files/obj-{size}.png"
        _expect(httpx.get(source, timeout=30), 200, data, "nginx file")
        msg = s.send(source)
        signed = s.signed_location(msg, s.media_sids(msg)[0])
        _expect(httpx.get(signed, timeout=30), 200, data, "signed download")
        dmsg = d.send(source)
        direct = d.url(d.content_path(dmsg, d.media_sids(dmsg)[0]))
        # Warm (the first answer fills the memory the fast path reads), then check
        # that the credential is really asked for.
        _expect(httpx.get(direct, headers={"Authorization": d.auth}, timeout=30), 200, data, "direct")
        _expect(httpx.get(direct, headers={"Authorization": s.auth}, timeout=30), 401, None, "direct, other")
        _expect(httpx.get(direct, timeout=30), 401, None, "direct, no credential")
        sides = {
            "signed": _side(cfg, mediagate, signed),
            "direct": _side(cfg, mediagate, direct, {"Authorization": d.auth}),
        }
        if peer is not None:
            url = peer.upload(token, data, f"obj-{size}.png", "image/png")
            bearer = {"Authorization": f"Bearer {token}"}
            _expect(httpx.get(url, headers=bearer, timeout=30), 200, data, "synapse")
            _expect(httpx.get(url, timeout=30), 401, None, "synapse, no token")
            sides["synapse"] = _side(cfg, process_tree(peer.pid), url, bearer)
        sides["nginx"] = _side(cfg, process_tree(nginx.pid), source)
        log(f"   {size} bytes")
        res: dict[str, Any] = alternate(cfg, sides, log)
        for side in sides:
            res[side]["mb_per_s"] = res[side]["rps"] * size / MB
        res["ratio_direct_signed"] = res["direct"]["rps"] / res["signed"]["rps"]
        for side in ("signed", "direct"):
            res[f"ratio_{side}_nginx"] = res[side]["rps"] / res["nginx"]["rps"]
            if peer is not None:
                res[f"ratio_{side}_synapse"] = res[side]["rps"] / res["synapse"]["rps"]
                res[f"cpu_ratio_synapse_{side}"] = (
                    res["synapse"]["cpu_us_per_request"] / res[side]["cpu_us_per_request"]
                )
        out["sizes"][str(size)] = res


def _side(
    cfg: Config, pids: list[int], url: str, headers: dict[str, str] | None = None
) -> Callable[[], WrkResult]:
    """One side of a comparison: a wrk run on ``url``, metered on the server's processes ``pids``."""

    def run() -> WrkResult:
        return metered(
            pids, lambda: wrk(url, duration=cfg.duration, connections=cfg.connections, headers=headers)
        )

    return run


def _redirect(work: Path, cfg: Config, nginx: Nginx, s: Site, log: Callable[[str], None]) -> dict[str, Any]:
    """The authenticated 307 against nginx's static 307 with the same Location."""
    msg = s.send(f"{nginx.base_url}/files/obj-{cfg.object_sizes[0]}.png")
    me = s.media_sids(msg)[0]
    location = s.signed_location(msg, me)
    url = s.url(s.content_path(msg, me))
    mediagate = process_tree(s.server.pid)
    log("   authenticated 307")
    with running_nginx(work, nginx.root, location, workers="1") as ref:
        check = httpx.get(ref.base_url + "/redirect", timeout=5)
        assert check.status_code == 307 and check.headers["location"] == location
        sides = {
            "mediagate": _side(cfg, mediagate, url, {"Authorization": s.auth}),
            "nginx": _side(cfg, process_tree(ref.pid), ref.base_url + "/redirect"),
        }
        res: dict[str, Any] = alternate(cfg, sides, log)
    res["ratio_rps"] = res["mediagate"]["rps"] / res["nginx"]["rps"]
    return res
