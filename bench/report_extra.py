"""REPORT.md sections for the soak run and the S3 shapes (bench/extra.py).

The soak section leads with a verdict table whose flags are computed, not
judged: any error, RSS of any one process that still grows over the last third of the run,
file descriptors that grow, a worker that was respawned, or a backlog left
after the drain shows as **FLAG** in bold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MB = 1024 * 1024
# Memory is judged per process on the last third of the run: the first two thirds are warm-up
# (pools filling, the hot cache's LRUs and SQLAlchemy's compiled-statement cache reaching their
# bounds, malloc arenas of the thread pool growing to their working size), and a sum over
# processes hides one worker's growth behind another's flat line. A process whose RSS grows by
# more than this over the last third is flagged: 6 MB per minute at the default 180 s, i.e. a
# leak of ~2.5 KB per request at the ~40 requests/s a worker serves here would show; RSS noise
# between samples on a flat process is 1-2 MB.
LEAK_MB = 6.0
# Open descriptors growing by more than this over the last third are flagged (the first
# seconds fill the database, S3 and Redis pools: growth then is expected).
FD_SLACK = 10


def _at_two_thirds(series: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The first sample at or after 2/3 of the load time (the series starts at 0)."""
    cut = series[-1]["t"] * 2 / 3 if series else 0
    return next((x for x in series if x["t"] >= cut), series[-1])


def last_third(shape: dict[str, Any]) -> list[tuple[str, float]]:
    """(process, RSS growth in MB over the last third) per process, in pid order.

    Older results without per-process series fall back to the sum over processes."""
    series = shape.get("series_procs")
    if not series:
        cut = _at_two_thirds(shape["series"], shape["seconds"])
        return [("all", (shape["series"][-1]["rss"] - cut["rss"]) / MB)]
    cut = _at_two_thirds(series, shape["seconds"])
    end = series[-1]["rss"]
    roles = {str(p["pid"]): p["role"] for p in shape["processes"]}
    return [
        (f"{roles.get(pid, 'worker')} {pid}", (end[pid] - cut["rss"][pid]) / MB)
        for pid in sorted(set(cut["rss"]) & set(end), key=int)
    ]


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / MB:.1f}"


def _flag(bad: bool, text: str) -> str:
    return f"**FLAG: {text}**" if bad else "ok"


def soak_verdicts(shape: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """name -> (flagged, measured) for one shape."""
    growth = last_third(shape)
    worst = max(g for _, g in growth)
    fd_cut = _at_two_thirds(shape["series"], shape["seconds"])
    fds = shape["fds_end"] - fd_cut["fds"]
    minutes = max(shape["seconds"] / 3 / 60, 1e-9)
    respawned = [p["pid"] for p in shape["processes"] if p["rss_start"] is None or p["rss_end"] is None]
    left = shape["backlog_after_drain"]
    backlog = left["outbox"] + left["webhooks_pending"] + left["messages_queued"]
    return {
        "errors": (
            shape["error_count"] > 0,
            f"{shape['error_count']} of {shape['total_ops']} operations"
            f" (and {shape['throttled_count']} creates throttled: 429 / 20429)",
        ),
        "memory": (
            worst > LEAK_MB,
            f"RSS {_mb(shape['rss_start'])} -> {_mb(shape['rss_end'])} MB in all; over the last third "
            + ", ".join(f"{who} {g:+.1f} MB" for who, g in growth)
            + f" (worst {worst / minutes:+.1f} MB/min; flagged above {LEAK_MB:.0f} MB per process)",
        ),
        "fds": (
            fds > FD_SLACK,
            f"{shape['fds_start']} -> {shape['fds_end']} open fds ({fds:+d} over the last third)",
        ),
        "processes": (
            bool(respawned),
            f"{shape['process_count_start']} -> {shape['process_count_end']}"
            + (f" (respawned: {respawned})" if respawned else ""),
        ),
        "backlog": (
            backlog > 0 or left["webhooks_failed"] > 0,
            f"outbox {left['outbox']}, webhooks pending {left['webhooks_pending']}, "
            f"failed {left['webhooks_failed']}, queued messages {left['messages_queued']} "
            f"after {shape['drain_seconds']:.0f} s of drain",
        ),
    }


def target_rows(results: dict[str, Any]) -> list[str]:
    """Rows of the report's Targets table: one per soak shape, met only if nothing is flagged."""
    soak = results.get("soak")
    if not soak:
        return []
    rows = []
    for name, shape in soak["shapes"].items():
        flagged = [check for check, (bad, _) in soak_verdicts(shape).items() if bad]
        verdict = "**met**" if not flagged else f"**missed** ({', '.join(flagged)})"
        rows.append(
            f"| 6. soak {name}: no errors, no memory or fd growth, no respawn, no backlog | "
            f"{shape['error_count']} errors, RSS {_mb(shape['rss_start'])} -> {_mb(shape['rss_end'])} MB, "
            f"fds {shape['fds_start']} -> {shape['fds_end']} | {verdict} |"
        )
    return rows


def shortened(results: dict[str, Any], section: str) -> str | None:
    """A warning line when ``section`` came from a shortened run (quick, fewer rounds, short soak)."""
    why: list[str] = []
    if results["config"]["label"] == "quick":
        why.append("`--quick` configuration")
    for run in results.get("partial_runs", []):
        if section in run["only"]:
            why += [f"`{a}`" for a in run["argv"] if a in ("--duration", "--rounds")]
    soak = results.get("soak")
    if section == "soak" and soak and soak["config"]["seconds"] < 180:
        why.append(f"{soak['config']['seconds']:.0f} s of load per shape instead of 180")
    if not why:
        return None
    return (
        f"> **Shortened run** ({', '.join(dict.fromkeys(why))}) on a shared, loaded machine: the figures "
        "below check that the section works and show its shape, they are not the reference numbers. "
        "Re-run `make bench` on a quiet machine for those."
    )


def _soak(soak: dict[str, Any], results: dict[str, Any]) -> list[str]:
    c = soak["config"]
    note = shortened(results, "soak")
    lines = [
        "## 6. Soak (mixed load)",
        "",
        *([note, ""] if note else []),
        f"{c['clients']} client threads for {c['seconds']:.0f} s per shape (`BENCH_SOAK_SECONDS`), each "
        "drawing its next operation by weight ("
        + ", ".join(f"{op} {w}" for op, w in soak["weights"].items())
        + "): message create with one MediaUrl fetched from the local nginx and a StatusCallback to a "
        "local receiver; media list; content URL 307; secured-host download of the signed URL (length "
        "checked); message delete. A create refused with 429 / 20429 (the per-account fetch limit, "
        "`MEDIAGATE_FETCH_CONCURRENCY_PER_ACCOUNT`, 4 per process by default; all clients share one "
        "account) is the documented fairness answer: counted as *throttled*, not as an error. "
        "**embedded** is the default `mediagate serve` (one granian process, "
        "SQLite, local files); **production** is PostgreSQL + SeaweedFS S3 + Redis with "
        "`--workers 2`. RSS and open fds of every server process are sampled every "
        f"{c['sample_every']:.0f} s; the backlog is read from the database when the load stops and "
        f"again after at most {c['drain_seconds']:.0f} s of drain. Memory is judged per process on "
        "the last third of the load: the first two thirds are warm-up (connection pools, the hot "
        "cache's bounded LRUs, SQLAlchemy's compiled-statement cache and the thread pool's malloc "
        "arenas filling to their bounds), and a sum over processes would hide one worker's growth. "
        f"A process growing more than {LEAK_MB:.0f} MB over the last third is flagged (at 180 s, "
        f"{LEAK_MB:.0f} MB/min: a leak of ~2.5 KB per request at ~40 requests/s per worker shows; "
        "a flat process moves 1-2 MB between samples). The machine may be shared while this runs "
        "(see the load average in the header).",
        "",
        "| shape | check | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for name, shape in soak["shapes"].items():
        for check, (bad, measured) in soak_verdicts(shape).items():
            lines.append(f"| {name} | {check} | {measured} | {_flag(bad, check)} |")
    lines.append("")
    for name, shape in soak["shapes"].items():
        lines += [
            f"### {name}: `mediagate serve {' '.join(shape['server_args'])}`",
            "",
            f"{shape['total_ops']} operations in {shape['seconds']:.0f} s "
            f"({shape['throughput_ops_per_s']:.0f} ops/s); {shape['messages_created']} messages created, "
            f"{shape['messages_deleted']} deleted; {shape['callbacks_received']} status callbacks "
            "received.",
            "",
            "| operation | count | ops/s | p50 ms | p99 ms | errors | throttled (429) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for op, o in shape["ops"].items():
            lines.append(
                f"| {op} | {o['count']} | {o['per_s']:.1f} | {o['p50_ms']:.1f} | {o['p99_ms']:.1f} | "
                f"{o['errors']} | {o['throttled']} |"
            )
        lines.append("")
        if shape["errors"]:
            lines += ["Errors by kind:", ""]
            lines += [f"* `{kind}`: {n}" for kind, n in shape["errors"].items()]
            lines.append("")
        lines += [
            "| process | role | RSS start MB | RSS at 2/3 MB | RSS end MB | fds start | fds end |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        per_proc = shape.get("series_procs")
        at_cut = _at_two_thirds(per_proc, shape["seconds"])["rss"] if per_proc else {}
        for p in shape["processes"]:
            lines.append(
                f"| {p['pid']} | {p['role']} | {_mb(p['rss_start'])} | {_mb(at_cut.get(str(p['pid'])))} | "
                f"{_mb(p['rss_end'])} | "
                f"{p['fds_start'] if p['fds_start'] is not None else '-'} | "
                f"{p['fds_end'] if p['fds_end'] is not None else '-'} |"
            )
        end, drained = shape["backlog_at_end"], shape["backlog_after_drain"]
        lines += [
            "",
            f"Backlog when the load stopped: outbox {end['outbox']}, webhooks pending "
            f"{end['webhooks_pending']} (delivered {end['webhooks_delivered']}, failed "
            f"{end['webhooks_failed']}); after {shape['drain_seconds']:.1f} s: outbox {drained['outbox']}, "
            f"pending {drained['webhooks_pending']}, delivered {drained['webhooks_delivered']}.",
            "",
        ]
    lines += ["![soak](soak.png)", ""]
    return lines


def _s3(s3: dict[str, Any], results: dict[str, Any]) -> list[str]:
    edge, pre, ing = s3["edge"], s3["presign"], s3["ingest"]
    note = shortened(results, "s3_shapes")
    lines = [
        "## 7. S3 shapes (PostgreSQL + SeaweedFS)",
        "",
        *([note, ""] if note else []),
        f"`mediagate serve {' '.join(s3['serve_args'])}` with `MEDIAGATE_STORAGE_URL=s3://…` on a local "
        "SeaweedFS (`weed mini`, started as the tests start it), the same nginx reference and wrk settings "
        "as above.",
        "",
        f"**Edge delivery from S3** ({edge['connections']} connections): the secured host checks the "
        "signature and streams the object from SeaweedFS (boto3, HEAD + ranged GET). *seaweedfs* is "
        "SeaweedFS answering the object's presigned GET itself (what `presign` mode hands the client).",
        "",
        "| object | side | req/s | MB/s | ratio to nginx | p50 / p99 ms | bad responses |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, r in edge["sizes"].items():
        for side, label in (
            ("mediagate", "mediagate edge (S3)"),
            ("seaweedfs", "SeaweedFS presigned GET"),
            ("nginx", "nginx sendfile"),
        ):
            g = r[side]
            ratio = r.get(f"ratio_rps_{side}", 1.0)
            lines.append(
                f"| {int(size) // 1024} KB | {label} | {g['rps']:.0f} | {g['mb_per_s']:.1f} | {ratio:.3f} | "
                f"{g['p50_ms']:.2f} / {g['p99_ms']:.2f} | {g['bad_responses'] + g['socket_errors']} |"
            )
    g, n = pre["mediagate"], pre["nginx"]
    lines += [
        "",
        f"**Presign 307** ({pre['connections']} connections): the authenticated content URL answering a "
        "307 to a SigV4-presigned SeaweedFS GET (`MEDIAGATE_DELIVERY=presign`), against nginx's static 307.",
        "",
        "| side | req/s | p50 / p99 ms | ratio | bad responses |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| mediagate presign 307 | {g['rps']:.0f} | {g['p50_ms']:.2f} / {g['p99_ms']:.2f} | "
        f"{pre['ratio_rps']:.3f} | {g['bad_responses'] + g['socket_errors']} |",
        f"| nginx static 307 | {n['rps']:.0f} | {n['p50_ms']:.2f} / {n['p99_ms']:.2f} | 1 | "
        f"{n['bad_responses'] + n['socket_errors']} |",
        "",
        f"**Ingest to S3** ({ing['connections']} connections, scenario 3's loop on the S3 site) next to "
        "scenario 3's ingest to local files. The local row is section 3's, from whichever run last produced "
        "section 3 (see the re-run notes at the top): compare the two only when they come from the same run.",
        "",
        "| object | storage | messages/s | MB/s | p50 / p99 ms | failed messages |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    local = (results.get("ingest") or {}).get("sizes", {})
    for size, r in ing["sizes"].items():
        rows = [("S3 (SeaweedFS)", r)]
        if size in local:
            rows.insert(0, (f"local files ({results['ingest']['backend']})", local[size]))
        for label, x in rows:
            m = x["mediagate"]
            lines.append(
                f"| {int(size) // 1024} KB | {label} | {m['rps']:.1f} | {m['mb_per_s']:.1f} | "
                f"{m['p50_ms']:.1f} / {m['p99_ms']:.1f} | {x['failed_messages']} |"
            )
    cl = s3.get("clients")
    if cl:
        lines += [
            "",
            f"**boto3 (threadpool) vs aiobotocore (event loop)** streaming the same objects from SeaweedFS "
            f"(`bench/s3_stream_app.py`, granian with {cl['workers']} worker(s), no signature check or "
            "database on either side). The decision is in the analysis below.",
            "",
            "| connections | object | boto3 req/s | aiobotocore req/s | aio / boto3 | boto3 p50 / p99 ms "
            "| aiobotocore p50 / p99 ms |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for conns, level in cl["levels"].items():
            for size, r in level.items():
                b, a = r["boto3"], r["aio"]
                lines.append(
                    f"| {conns} | {int(size) // 1024} KB | {b['rps']:.0f} | {a['rps']:.0f} | "
                    f"{r['ratio_rps_aio']:.2f} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} | "
                    f"{a['p50_ms']:.1f} / {a['p99_ms']:.1f} |"
                )
    lines.append("")
    return lines


def render(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if results.get("soak"):
        lines += _soak(results["soak"], results)
    if results.get("s3_shapes"):
        lines += _s3(results["s3_shapes"], results)
    return lines


def charts(results: dict[str, Any], out: Path) -> list[str]:
    soak = results.get("soak")
    if not soak:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, shape in soak["shapes"].items():
        ts = [x["t"] for x in shape["series"]]
        per_proc = shape.get("series_procs")
        if per_proc:  # one line per process: a worker's growth is not hidden in a sum
            roles = {str(p["pid"]): p["role"] for p in shape["processes"]}
            for pid in sorted(per_proc[-1]["rss"], key=int):
                pts = [(x["t"], x["rss"][pid] / MB) for x in per_proc if pid in x["rss"]]
                ax1.plot(*zip(*pts, strict=True), label=f"{name} {roles.get(pid, 'worker')} {pid}")
        else:
            ax1.plot(ts, [x["rss"] / MB for x in shape["series"]], label=name)
        ax1.axvline(ts[-1] * 2 / 3, color="grey", linewidth=0.5, linestyle=":")
        ax2.plot(ts, [x["fds"] for x in shape["series"]], label=name)
    ax1.set_xlabel("s (dotted: start of the last third)")
    ax1.set_ylabel("RSS per server process, MB")
    ax2.set_xlabel("s")
    ax2.set_ylabel("open fds of all server processes")
    ax1.set_title("6. soak: memory")
    ax2.set_title("6. soak: file descriptors")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=90)
    plt.close(fig)
    return ["soak.png"]
