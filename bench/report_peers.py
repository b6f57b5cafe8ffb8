"""Section 8 of REPORT.md: the peer comparison (bench/peers.py, issue 24)."""

from __future__ import annotations

from typing import Any

TARGETS = {
    "synapse": 2.0,  # every authenticated download shape >= 2x Synapse's req/s
    "direct_signed": 0.8,  # direct delivery >= 0.8x the signed download's req/s
    "redirect": 0.25,  # the authenticated 307 >= 0.25x nginx's static 307
}
SHAPES = (
    ("signed", "signed URL from the 307, no auth header"),
    ("direct", "direct delivery (content URL, Basic auth, bytes in one hop)"),
)


def _ok(good: bool) -> str:
    return "**met**" if good else "**missed**"


def _kb(size: str) -> str:
    n = int(size)
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def target_rows(results: dict[str, Any]) -> list[str]:
    peers = results.get("peers")
    if not peers:
        return []
    rows: list[str] = []
    for size, r in peers["sizes"].items():
        if "synapse" in r:
            for side, _ in SHAPES:
                ratio = r[f"ratio_{side}_synapse"]
                rows.append(
                    f"| 8. {side} download ≥ 2 x Synapse ({_kb(size)}; CPU per request "
                    f"{r['cpu_ratio_synapse_' + side]:.1f} x less) | {ratio:.1f} x | "
                    f"{_ok(ratio >= TARGETS['synapse'])} |"
                )
        ratio = r["ratio_direct_signed"]
        rows.append(
            f"| 8. direct delivery ≥ 0.8 x the signed download ({_kb(size)}) | {ratio:.2f} x | "
            f"{_ok(ratio >= TARGETS['direct_signed'])} |"
        )
    red = peers["redirect"]
    cpu = red["nginx"]["cpu_us_per_request"] / red["mediagate"]["cpu_us_per_request"]
    rows.append(
        f"| 8. authenticated 307 ≥ 0.25 x nginx (peers run, {peers['backend']}; CPU per request "
        f"{cpu:.3f} x nginx's{'; loaded machine, see 8.' if _loaded(peers) else ''}) | "
        f"{red['ratio_rps']:.3f} x | {_ok(red['ratio_rps'] >= TARGETS['redirect'])} |"
    )
    return rows


LOADED = 0.5  # cores used by the rest of the machine, median over the runs


def _loads(peers: dict[str, Any]) -> list[float]:
    return sorted(
        run["others_cores"]
        for r in (*peers["sizes"].values(), peers["redirect"])
        for side in r.values()
        if isinstance(side, dict) and "runs" in side
        for run in side["runs"]
        if run.get("others_cores") is not None
    )


def _loaded(peers: dict[str, Any]) -> bool:
    loads = _loads(peers)
    return bool(loads) and loads[len(loads) // 2] > LOADED


def _others(peers: dict[str, Any], nproc: str) -> str:
    loads = _loads(peers)
    if not loads:
        return ""
    text = (
        f" The rest of the machine (other engineers' work) used {loads[0]:.2f} to {loads[-1]:.2f} of the "
        f"{nproc} cores during the runs (median {loads[len(loads) // 2]:.2f}), read from "
        "`/proc/stat` less the server's and wrk's own CPU."
    )
    if _loaded(peers):
        text += (
            " **A loaded machine:** under CPU contention the scheduler shares time per thread, so req/s "
            "ratios favour mediagate (granian's Rust threads beside the event loop) over single-threaded "
            "servers (nginx with one worker, Synapse's reactor); the req/s verdicts of this run are not "
            "those of a quiet machine. CPU per request is the comparison that holds under load."
        )
    return text


def render(results: dict[str, Any]) -> list[str]:
    peers = results.get("peers")
    if not peers:
        return []
    cfg = results["config"]
    syn = peers.get("synapse")
    lines = [
        "## 8. Peers: authenticated downloads vs Synapse",
        "",
        f"`make bench-peers` (or `python -m bench --only peers`), started with load average "
        f"{peers['loadavg_start']}, ended at {peers['loadavg_end']}."
        f"{_others(peers, results['machine']['nproc'])} "
        f"wrk -t1 with {peers['connections']} connections on loopback, {cfg['duration']:.0f} s per run, "
        f"{cfg['rounds']} rounds, the sides alternating (order reversed every round); medians over rounds. "
        "Same files (the bench's PNGs) on every side. mediagate is the default `mediagate serve` (one "
        f"process, {peers['backend']}, local files, access log on); "
        + (
            f"Synapse {syn} is one process from its own virtualenv (`bench/.synapse-venv`), SQLite, local "
            "media store, logging at WARNING, presence/metrics/URL previews off (bench/synapse.py): "
            "`GET /_matrix/client/v1/media/download/{server}/{mediaId}` with a bearer token; "
            if syn
            else "Synapse was not run (`--no-synapse` or the quick configuration); "
        )
        + "nginx is one worker with `sendfile`, no auth. CPU per request is the server's CPU time (every "
        "process and thread, `/proc/<pid>/stat`) during a run over the requests answered: it moves far less "
        "with the machine's other load than req/s does.",
        "",
        "| shape | size | nginx req/s | Synapse req/s | mediagate req/s | mediagate / Synapse "
        "| CPU µs per request (nginx; Synapse; mediagate) | p99 ms (Synapse; mediagate) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, r in peers["sizes"].items():
        n = r["nginx"]
        s = r.get("synapse")
        for side, label in SHAPES:
            g = r[side]
            peer = (
                (f"{s['rps']:.0f}", f"{r[f'ratio_{side}_synapse']:.1f} x", f"{s['cpu_us_per_request']:.0f}")
                if s
                else ("n/a", "n/a", "n/a")
            )
            lines.append(
                f"| {label} | {_kb(size)} | {n['rps']:.0f} | {peer[0]} | {g['rps']:.0f} | {peer[1]} | "
                f"{n['cpu_us_per_request']:.0f}; {peer[2]}; {g['cpu_us_per_request']:.0f} | "
                f"{s['p99_ms'] if s else 'n/a'}; {g['p99_ms']:.1f} |"
            )
    red = peers["redirect"]
    g, n = red["mediagate"], red["nginx"]
    lines += [
        "",
        "The authenticated 307 (content URL with Basic auth, an account in redirect mode) against nginx's "
        "static `return 307` with the same `Location`:",
        "",
        "| | req/s | CPU µs per request | p50 / p99 ms |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {name} | {x['rps']:.0f} | {x['cpu_us_per_request']:.0f} | "
            f"{x['p50_ms']:.2f} / {x['p99_ms']:.2f} |"
            for name, x in (("mediagate", g), ("nginx", n))
        ),
        f"| ratio | {red['ratio_rps']:.3f} x | {n['cpu_us_per_request'] / g['cpu_us_per_request']:.3f} x | |",
        "",
    ]
    share = peers.get("fast_share") or {}
    if share:
        lines.append(
            "Share of each route's answers given by the RSGI fast path (from the server's `/metrics`): "
            + "; ".join(f"`{route}` {100 * v:.2f} %" for route, v in share.items())
            + "."
        )
        lines.append("")
    return lines
