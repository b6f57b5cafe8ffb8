"""Results JSON -> ``REPORT.md`` with tables and PNG charts (matplotlib, no display)."""

from __future__ import annotations

import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import report_extra, report_peers
from bench.harness import find_tool

MB = 1024 * 1024
ANALYSIS = Path(__file__).with_name("analysis.md")

TARGETS = {
    "redirect": 0.25,  # mediagate req/s >= 0.25 x nginx
    "delivery_1mb": 0.6,  # 1 MB req/s >= 0.6 x nginx
    "list_p50": 1.5,  # p50 at 1M rows <= 1.5 x p50 at 10k
    "rss_mb": 50.0,  # RSS growth < 50 MB for the 100 MB object
}


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "(unavailable)"
    return (done.stdout + done.stderr).strip()


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "(unavailable)"


def machine() -> dict[str, Any]:
    pg = _run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-tAc", "SHOW server_version"])
    return {
        "nproc": _run(["nproc"]),
        "lscpu": "\n".join(_run(["lscpu"]).splitlines()[:10]),
        "free": _run(["free", "-h"]),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": _run([find_tool("nginx") or "nginx", "-v"]),
        "wrk": _run([find_tool("wrk") or "wrk", "-v"]).splitlines()[0] if find_tool("wrk") else "(missing)",
        "postgresql": pg.splitlines()[0] if pg else "(unavailable)",
        "sqlite": sqlite3.sqlite_version,
        "packages": {
            p: _version(p)
            for p in (
                "mediagate",
                "granian",
                "uvloop",
                "httptools",
                "starlette",
                "sqlalchemy",
                "psycopg",
            )
        },
        "loadavg_end": load_average(),
    }


def _ok(good: bool) -> str:
    return "**met**" if good else "**missed**"


def _mb(n: float) -> str:
    return f"{n / MB:.1f}"


def _charts(results: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[str] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        made.append(name)

    red = results.get("redirect")
    if red:
        names = list(red["backends"])
        fig, ax = plt.subplots(figsize=(6, 3.5))
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [red["backends"][n]["mediagate"]["rps"] for n in names], 0.4,
               label="mediagate 307 (auth + DB + sign)")  # fmt: skip
        ax.bar([x + 0.2 for x in xs], [red["backends"][n]["nginx"]["rps"] for n in names], 0.4,
               label="nginx static 307")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("requests/s (median, log)")
        ax.set_title(f"1. content URL 307, {red['connections']} connections")
        ax.legend(fontsize=8)
        save(fig, "redirect.png")
    for key, title, fname in (
        ("delivery", "2. signed-URL delivery vs nginx sendfile", "delivery.png"),
        ("ingest", "3. ingest (MediaUrl from local nginx)", "ingest.png"),
    ):
        sec = results.get(key)
        if not sec:
            continue
        sizes = list(sec["sizes"])
        fig, ax = plt.subplots(figsize=(6, 3.5))
        xs = range(len(sizes))
        ref = "nginx sendfile (same file)" if key == "delivery" else "nginx serving the source file"
        series = [("mediagate", "mediagate" + (" (direct, granian)" if key == "delivery" else ""))]
        if "behind_nginx" in sec["sizes"][sizes[0]]:
            series.append(("behind_nginx", "mediagate behind nginx (X-Accel-Redirect)"))
        series.append(("nginx", ref))
        width = 0.8 / len(series)
        for i, (side, label) in enumerate(series):
            offset = (i - (len(series) - 1) / 2) * width
            ax.bar([x + offset for x in xs], [sec["sizes"][s][side]["mb_per_s"] for s in sizes], width,
                   label=label)  # fmt: skip
        ax.set_xticks(list(xs), [f"{int(s) // 1024} KB" for s in sizes])
        ax.set_ylabel("MB/s (median)")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize=8)
        save(fig, fname)
    ml = results.get("media_list")
    if ml:
        small, large = (str(n) for n in ml["rows"])
        fig, ax = plt.subplots(figsize=(7, 3.8))
        labels: list[str] = []
        a: list[float] = []
        b: list[float] = []
        for backend, res in ml["backends"].items():
            for q in res["ratio_p50"]:
                labels.append(f"{backend}\n{q.replace('_', ' ')}")
                a.append(res["stages"][small][q]["p50_ms"])
                b.append(res["stages"][large][q]["p50_ms"])
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], a, 0.4, label=f"{int(small):,} rows")
        ax.bar([x + 0.2 for x in xs], b, 0.4, label=f"{int(large):,} rows")
        ax.set_xticks(list(xs), labels, fontsize=6)
        ax.set_ylabel("p50 latency, ms")
        ax.set_title("4. media list latency (keyset pages)")
        ax.legend(fontsize=8)
        save(fig, "media_list.png")
    mem = results.get("memory")
    if mem:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        vals = [mem["idle_bytes"] / MB, mem["ingest_peak_bytes"] / MB, mem["serve_peak_bytes"] / MB]
        ax.bar(["idle", "ingesting", "serving"], vals, color=["grey", "tab:blue", "tab:orange"])
        ax.axhline(vals[0] + TARGETS["rss_mb"], color="red", linestyle="--", label="idle + 50 MB (target)")
        ax.set_ylabel("RSS of all server processes, MB")
        ax.set_title(f"5. RSS with a {_mb(mem['object_bytes'])} MB object")
        ax.legend(fontsize=8)
        save(fig, "memory.png")
    return made


def render(results: dict[str, Any], charts: list[str]) -> str:
    cfg = results["config"]
    m = results["machine"]
    lines: list[str] = ["# mediagate benchmark report", ""]
    lines += [
        f"Run `{results['command']}` ({cfg['label']} configuration) started {results['started']}, "
        f"took {results['elapsed_seconds']:.0f} s. mediagate ran as `mediagate serve "
        f"{' '.join(cfg['serve_args'])}`; nginx (`nginx-light`, `worker_processes 1`, `sendfile on`) ran "
        "beside it as the physical reference. wrk used one thread "
        f"(one of the {m['nproc']} cores), {cfg['duration']:.0f} s per run, {cfg['rounds']} rounds "
        "alternating mediagate and nginx (order swapped every round). Figures are medians over rounds; "
        "ratios are mediagate's median over nginx's median from the same run.",
        "",
        f"Load average at start: {results.get('loadavg_start', '?')}; at end: {m['loadavg_end']}. "
        "The machine is shared: other processes competed for the two cores during the run, so compare "
        "the ratios (same conditions for both sides), not the absolute numbers.",
        "",
        *[
            f"Re-run later with `--only {','.join(run['only'])}` (merged into this report, the other "
            f"scenarios are from the run above): started {run['started']}, "
            f"took {run['elapsed_seconds']:.0f} s, load average at start {run['loadavg_start']}, "
            f"at end {run['loadavg_end']}.\n"
            for run in results.get("partial_runs", [])
        ],
        "To reproduce: `make bench-deps && make bench` (writes this folder: `REPORT.md`, `results.json`, "
        "the PNGs). A single scenario: `.venv/bin/python -m bench --only redirect`.",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
    ]
    red = results.get("redirect")
    if red:
        for backend, r in red["backends"].items():
            lines.append(
                f"| 1. authenticated 307 ≥ 0.25 x nginx ({backend}, Auth Token) | {r['ratio_rps']:.3f} x | "
                f"{_ok(r['ratio_rps'] >= TARGETS['redirect'])} |"
            )
            if "ratio_rps_api_key" in r:
                lines.append(
                    f"| 1. authenticated 307 ≥ 0.25 x nginx ({backend}, API key) | "
                    f"{r['ratio_rps_api_key']:.3f} x | {_ok(r['ratio_rps_api_key'] >= TARGETS['redirect'])} |"
                )
    dl = results.get("delivery")
    if dl:
        big = str(max(int(s) for s in dl["sizes"]))
        r = dl["sizes"][big]
        behind = r.get("ratio_rps_behind_nginx")
        if behind is None:
            lines.append(
                f"| 2. {int(big) // 1024} KB delivery ≥ 0.6 x nginx | {r['ratio_rps']:.2f} x | "
                f"{_ok(r['ratio_rps'] >= TARGETS['delivery_1mb'])} |"
            )
        else:
            # The verdict goes to the best production shape; the direct figure stays visible.
            best = max(behind, r["ratio_rps"])
            shape = "behind nginx, X-Accel-Redirect" if behind >= r["ratio_rps"] else "direct"
            lines.append(
                f"| 2. {int(big) // 1024} KB delivery ≥ 0.6 x nginx (best production shape: {shape}; "
                f"direct granian {r['ratio_rps']:.2f} x) | {best:.2f} x | "
                f"{_ok(best >= TARGETS['delivery_1mb'])} |"
            )
    cons = results.get("consistency")
    if cons and cons.get("received"):
        lines.append(
            f"| 6. invalidation reaches another process ≤ 1 s (Redis pub/sub, {cons['received']} messages; "
            f"median {cons['median_ms']} ms, p99 {cons['p99_ms']} ms) | max {cons['max_ms']} ms | "
            f"{_ok(cons['max_ms'] <= 1000)} |"
        )
    ml = results.get("media_list")
    if ml:
        for backend, r in ml["backends"].items():
            worst = max(r["ratio_p50"].values())
            lines.append(
                f"| 4. list p50 at {ml['rows'][1]:,} ≤ 1.5 x at {ml['rows'][0]:,} ({backend}, worst query) | "
                f"{worst:.2f} x | {_ok(worst <= TARGETS['list_p50'])} |"
            )
    mem = results.get("memory")
    if mem:
        for phase in ("ingest", "serve"):
            growth = mem[f"{phase}_growth_bytes"] / MB
            lines.append(
                f"| 5. RSS growth < 50 MB while {'ingesting' if phase == 'ingest' else 'serving'} "
                f"a {_mb(mem['object_bytes'])} MB object | {growth:.1f} MB | "
                f"{_ok(growth < TARGETS['rss_mb'])} |"
            )
    lines += report_extra.target_rows(results)  # soak (6.)
    lines += report_peers.target_rows(results)  # peers (8.)
    lines.append("")

    if red:
        lines += [
            "## 1. Authenticated content URL → 307",
            "",
            f"`GET /2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…` with Basic auth (credential check, media "
            f"lookup, URL signing) against nginx `return 307` with the same `Location`; {red['connections']} "
            "connections. Repeat requests are answered from memory (media/hotcache.py: the verified "
            "credential and the media row, dropped through the invalidation channel); the API-key row uses "
            "a standard key of the same account.",
            "",
            "| backend | mediagate req/s | nginx req/s | ratio | mediagate p50 / p99 ms | nginx p50 / p99 ms "
            "| bad responses |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for backend, r in red["backends"].items():
            g, n = r["mediagate"], r["nginx"]
            lines.append(
                f"| {backend} | {g['rps']:.0f} | {n['rps']:.0f} | {r['ratio_rps']:.3f} | "
                f"{g['p50_ms']:.2f} / {g['p99_ms']:.2f} | {n['p50_ms']:.2f} / {n['p99_ms']:.2f} | "
                f"{g['bad_responses'] + n['bad_responses']} |"
            )
            k = r.get("mediagate_api_key")
            if k:
                lines.append(
                    f"| {backend} (API key) | {k['rps']:.0f} | {n['rps']:.0f} | "
                    f"{r['ratio_rps_api_key']:.3f} | "
                    f"{k['p50_ms']:.2f} / {k['p99_ms']:.2f} | {n['p50_ms']:.2f} / {n['p99_ms']:.2f} | "
                    f"{k['bad_responses']} |"
                )
        lines += ["", "![redirect](redirect.png)", ""]
    if dl:
        three = all("behind_nginx" in r for r in dl["sizes"].values())
        lines += [
            "## 2. Signed-URL delivery",
            "",
            f"`GET /_media/secure/AC…/ME…?Expires&Signature&Key-Pair-Id` (signature check, media lookup, "
            f"file send) against nginx `sendfile` of the same bytes; {dl['connections']} connections, "
            f"{dl['backend']}.",
        ]
        if three:
            lines += [
                "Two shapes of mediagate, alternating with the reference in the same rounds: **direct** "
                "(granian sends the file itself) and **behind nginx** (the production shape for file "
                "delivery: a front nginx proxies to mediagate started with "
                f"`MEDIAGATE_ACCEL_REDIRECT_PREFIX={dl.get('accel_prefix', '/_protected')}`; mediagate "
                "checks signature, expiry and the media row and answers headers plus `X-Accel-Redirect`, "
                "the front sends the file with `sendfile`). The ratio is req/s over the reference nginx's.",
                "",
                "| object | shape | req/s | nginx req/s | ratio | MB/s | nginx MB/s | p50 / p99 ms |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for size, r in dl["sizes"].items():
                n = r["nginx"]
                for side, label, ratio in (
                    ("mediagate", "direct (granian)", r["ratio_rps"]),
                    ("behind_nginx", "behind nginx (X-Accel-Redirect)", r["ratio_rps_behind_nginx"]),
                ):
                    g = r[side]
                    lines.append(
                        f"| {int(size) // 1024} KB | {label} | {g['rps']:.0f} | {n['rps']:.0f} | "
                        f"{ratio:.2f} | {g['mb_per_s']:.0f} | {n['mb_per_s']:.0f} | "
                        f"{g['p50_ms']:.2f} / {g['p99_ms']:.2f} |"
                    )
        else:
            lines += [
                "",
                "| object | mediagate req/s | nginx req/s | ratio | mediagate MB/s | nginx MB/s "
                "| mediagate p50 / p99 ms |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for size, r in dl["sizes"].items():
                g, n = r["mediagate"], r["nginx"]
                lines.append(
                    f"| {int(size) // 1024} KB | {g['rps']:.0f} | {n['rps']:.0f} | {r['ratio_rps']:.2f} | "
                    f"{g['mb_per_s']:.0f} | {n['mb_per_s']:.0f} | {g['p50_ms']:.2f} / {g['p99_ms']:.2f} |"
                )
        lines += ["", "![delivery](delivery.png)", ""]
    ing = results.get("ingest")
    if ing:
        lines += [
            "## 3. Ingest",
            "",
            f"`POST …/Messages.json` with one `MediaUrl` pointing at the local nginx ({ing['connections']} "
            f"connections, {ing['backend']}): fetch through the SSRF-safe fetcher, type check, hash, fsync, "
            "rows. The nginx column is nginx serving that same source file to wrk at the same connection "
            "count, i.e. the ceiling of the fetch alone. Since sends answer `queued` at once and the "
            "media are fetched afterwards (as at Twilio), messages/s counts creates and MB/s what they asked "
            "for; the fetch worker stores behind them, so this is not yet the stored rate.",
            "",
            "| object | messages/s | MB/s | nginx req/s (source) | ratio | p50 / p99 ms | failed messages |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for size, r in ing["sizes"].items():
            g, n = r["mediagate"], r["nginx"]
            lines.append(
                f"| {int(size) // 1024} KB | {g['rps']:.0f} | {g['mb_per_s']:.1f} | {n['rps']:.0f} | "
                f"{r['ratio_rps']:.4f} | {g['p50_ms']:.1f} / {g['p99_ms']:.1f} | {r['failed_messages']} |"
            )
        lines += ["", "![ingest](ingest.png)", ""]
    if ml:
        small, large = (str(n) for n in ml["rows"])
        lines += [
            "## 4. Media list latency",
            "",
            f'One account; a message with {ml["hot_media"]:,} media ("many"), one with 3 ("few"), the '
            "rest of the rows on filler messages of 10 media, all with random creation times over 30 days "
            "(bulk-inserted with SQLAlchemy Core, then `ANALYZE`). The deep page is a `PageToken` cursor "
            'half-way through the "many" message. wrk with one connection.',
            "",
            f"| backend | query | p50 ms @ {int(small):,} | p50 ms @ {int(large):,} | ratio | "
            f"p99 ms @ {int(small):,} | p99 ms @ {int(large):,} |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for backend, r in ml["backends"].items():
            for q, ratio in r["ratio_p50"].items():
                a, b = r["stages"][small][q], r["stages"][large][q]
                lines.append(
                    f"| {backend} | {q.replace('_', ' ')} | {a['p50_ms']:.2f} | {b['p50_ms']:.2f} | "
                    f"{ratio:.2f} | {a['p99_ms']:.2f} | {b['p99_ms']:.2f} |"
                )
        lines += ["", "![media list](media_list.png)", ""]
    if mem:
        lines += [
            "## 5. Memory",
            "",
            f"RSS summed over all {mem['processes']} server processes (sampled every 20 ms), "
            f"{mem['backend']}. Idle after a short warm-up; then one WhatsApp message ingesting a "
            f"{_mb(mem['object_bytes'])} MB document; then that object downloaded by several clients "
            "at once.",
            "",
            "| phase | RSS MB | growth over idle MB |",
            "| --- | ---: | ---: |",
            f"| idle | {_mb(mem['idle_bytes'])} | |",
            f"| ingesting | {_mb(mem['ingest_peak_bytes'])} | {_mb(mem['ingest_growth_bytes'])} |",
            f"| serving | {_mb(mem['serve_peak_bytes'])} | {_mb(mem['serve_growth_bytes'])} |",
            "",
            "![memory](memory.png)",
            "",
        ]
    lines += report_extra.render(results)  # 6. soak, 7. S3 shapes
    lines += report_peers.render(results)  # 8. Synapse and nginx beside the authenticated downloads
    if ANALYSIS.exists():
        lines += [ANALYSIS.read_text().strip(), ""]
    lines += ["## Machine", "", "```"]
    lines += [
        f"nproc: {m['nproc']}",
        m["lscpu"],
        m["free"],
        f"kernel {m['kernel']}, Python {m['python']}, {m['nginx']}, {m['wrk']}",
        f"PostgreSQL {m['postgresql']}, SQLite {m['sqlite']}",
        ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        "```",
        "",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any], out: Path) -> None:
    charts = _charts(results, out) + report_extra.charts(results, out)
    (out / "REPORT.md").write_text(render(results, charts))
