"""Render a preview of docs/grafana/mediagate.json from real scraped data.

Grafana itself cannot be installed here (no Debian package, and npm's
``grafana`` is a placeholder), so this draws the dashboard's own panels, in
their grid positions, from a real ``mediagate serve`` that it drives with
traffic and scrapes every few seconds. The PromQL of each panel is evaluated
by the small evaluator below, which knows exactly the expression shapes the
dashboard uses (``sum [by (...)] (rate(m{...}[w]))``, ``histogram_quantile``
over such a sum, a gauge sum, and a ratio of two sums). It is a faithful
picture of the data, not of Grafana's pixels.

    .venv/bin/python docs/grafana/preview.py   # writes docs/screenshots/grafana.png
"""

from __future__ import annotations

import html
import json
import math
import re
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.fileserver import PNG, png_bytes, running_file_server  # noqa: E402
from tests.support.scrape import Samples, parse  # noqa: E402
from tests.support.server import running_server  # noqa: E402

DASHBOARD = ROOT / "docs" / "grafana" / "mediagate.json"
OUT = ROOT / "docs" / "screenshots" / "grafana.png"
SCRAPES = 16
INTERVAL = 4.0
COLORS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a", "#37872d"]

# --- a tiny PromQL evaluator for the dashboard's shapes ------------------------------------

Series = dict[tuple[tuple[str, str], ...], float]
_SELECTOR = re.compile(r"(?P<name>[a-z_:]+)(?:\{(?P<matchers>.*)\})?")
_MATCHER = re.compile(r'(?P<label>\w+)\s*(?P<op>=~|!=|=)\s*"(?P<value>[^"]*)"')


def _select(samples: Samples, selector: str) -> list[tuple[dict[str, str], float]]:
    m = _SELECTOR.fullmatch(selector.strip())
    assert m, selector
    matchers = [x.groupdict() for x in _MATCHER.finditer(m["matchers"] or "")]
    out = []
    for (name, labels), v in samples.items():
        if name != m["name"]:
            continue
        lab = dict(labels)
        ok = True
        for mt in matchers:
            have = lab.get(mt["label"], "")
            if mt["op"] == "=":
                ok = ok and have == mt["value"]
            elif mt["op"] == "!=":
                ok = ok and have != mt["value"]
            else:
                ok = ok and re.fullmatch(mt["value"], have) is not None
        if ok:
            out.append((lab, v))
    return out


def _sum_by(rows: list[tuple[dict[str, str], float]], by: list[str]) -> Series:
    out: Series = {}
    for lab, v in rows:
        key = tuple((b, lab.get(b, "")) for b in by)
        out[key] = out.get(key, 0.0) + v
    return out


_SUM = re.compile(r"sum(?: by \((?P<by>[^)]*)\))? ?\((?P<inner>.*)\)")
_RATE = re.compile(r"rate\((?P<sel>.*)\[[^\]]+\]\)")
_QUANTILE = re.compile(r"histogram_quantile\((?P<q>[0-9.]+), (?P<inner>.*)\)")


def evaluate(expr: str, prev: Samples, cur: Samples, dt: float) -> Series:
    expr = expr.strip()
    if " / " in expr:
        left, right = expr.split(" / ", 1)
        a, b = evaluate(left, prev, cur, dt), evaluate(right, prev, cur, dt)
        return {k: (a.get(k, 0.0) / b[k]) if b.get(k) else 0.0 for k in b}
    q = _QUANTILE.fullmatch(expr)
    if q:
        buckets = evaluate(q["inner"], prev, cur, dt)
        return _quantile(float(q["q"]), buckets)
    s = _SUM.fullmatch(expr)
    assert s, expr
    by = [b.strip() for b in (s["by"] or "").split(",") if b.strip()]
    inner = s["inner"]
    r = _RATE.fullmatch(inner)
    if r:
        now = _sum_by(_select(cur, r["sel"]), by)
        before = _sum_by(_select(prev, r["sel"]), by)
        return {k: max(v - before.get(k, 0.0), 0.0) / dt for k, v in now.items()}
    return _sum_by(_select(cur, inner), by)


def _quantile(q: float, buckets: Series) -> Series:
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for key, v in buckets.items():
        le = dict(key)["le"]
        rest = tuple(kv for kv in key if kv[0] != "le")
        groups.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), v))
    out: Series = {}
    for key, pairs in groups.items():
        pairs.sort()
        total = pairs[-1][1]
        if total <= 0:
            continue
        rank, lower_bound, lower_count = q * total, 0.0, 0.0
        for bound, count in pairs:
            if count >= rank:
                if math.isinf(bound):
                    out[key] = lower_bound
                else:  # linear interpolation inside the bucket, as Prometheus does
                    span = count - lower_count
                    out[key] = lower_bound + (bound - lower_bound) * (
                        (rank - lower_count) / span if span else 1
                    )
                break
            lower_bound, lower_count = bound, count
    return out


# --- traffic -------------------------------------------------------------------------------


def drive(base: str, sid: str, token: str, media_url: str, bad_url: str, stop: threading.Event) -> None:
    auth = (sid, token)
    api = f"{base}/2010-04-01/Accounts/{sid}"
    contents: list[str] = []
    n = 0
    while not stop.is_set():
        n += 1
        if n % 5 == 1:
            r = requests.post(
                api + "/Messages.json",
                data={
                    "To": "+15551230001",
                    "From": "+15557650001",
                    "MediaUrl": bad_url if n % 15 == 1 else media_url,
                    "StatusCallback": "http://127.0.0.1:9/closed-port",
                },
                auth=auth,
                timeout=30,
            )
            msg = r.json()
            if msg.get("num_media") == "1":
                media = requests.get(f"{api}/Messages/{msg['sid']}/Media.json", auth=auth, timeout=30).json()
                contents.append(f"{api}/Messages/{msg['sid']}/Media/{media['media_list'][0]['sid']}")
        for url in contents[-3:]:
            requests.get(url, auth=auth, timeout=30)  # 307 -> secured host, bytes
        if contents:
            requests.get(contents[-1], timeout=30)  # 401: no credentials
        if n % 3 == 0:
            requests.get(
                contents[-1] if contents else api + "/Messages.json", auth=(sid, "0" * 32), timeout=30
            )
        requests.get(api + "/Messages.json", auth=auth, timeout=30)
        time.sleep(0.05)


def collect(base: str) -> tuple[list[Samples], list[float]]:
    scrapes, times = [], []
    for _ in range(SCRAPES):
        scrapes.append(parse(requests.get(base + "/metrics", timeout=30).text))
        times.append(time.monotonic())
        time.sleep(INTERVAL)
    return scrapes, times


# --- rendering -----------------------------------------------------------------------------


def _fmt(v: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{v * 100:.1f}%"
    if unit == "s":
        return f"{v * 1000:.2f} ms" if v < 1 else f"{v:.2f} s"
    if unit == "Bps":
        for suffix, scale in (("MB/s", 1e6), ("kB/s", 1e3)):
            if v >= scale:
                return f"{v / scale:.1f} {suffix}"
        return f"{v:.0f} B/s"
    suffix = {"reqps": " req/s", "ops": "/s"}.get(unit, "")
    return f"{v:.2f}{suffix}" if v < 100 else f"{v:.0f}{suffix}"


def _legend(fmt: str, key: tuple[tuple[str, str], ...]) -> str:
    labels = dict(key)
    return re.sub(r"\{\{(\w+)\}\}", lambda m: labels.get(m[1], ""), fmt).strip() or "value"


def render_panel(panel: dict[str, Any], points: list[dict[str, float]], unit: str) -> str:
    if panel["type"] == "stat":
        last = next((p for p in reversed(points) if p), {})
        value = sum(last.values()) if last else 0.0
        return f'<div class="stat"><div class="big">{html.escape(_fmt(value, unit))}</div></div>'
    names = sorted({n for p in points for n in p})
    if not names:
        return '<div class="nodata">No data</div>'
    w, h, pad = 100.0, 100.0, 2.0
    peak = max((p.get(n, 0.0) for p in points for n in names), default=0.0) or 1.0
    lines, legend = [], []
    for i, name in enumerate(names[:9]):
        color = COLORS[i % len(COLORS)]
        xy = " ".join(
            f"{pad + (w - 2 * pad) * j / max(len(points) - 1, 1):.2f},{h - pad - (h - 2 * pad) * p.get(name, 0.0) / peak:.2f}"
            for j, p in enumerate(points)
        )
        lines.append(
            f'<polyline points="{xy}" fill="none" stroke="{color}" stroke-width="1.2" '
            'vector-effect="non-scaling-stroke"/>'
        )
        legend.append(
            f'<span><i style="background:{color}"></i>{html.escape(name)} '
            f"<b>{html.escape(_fmt(points[-1].get(name, 0.0), unit))}</b></span>"
        )
    grid = "".join(
        f'<line x1="0" x2="100" y1="{y}" y2="{y}" stroke="#2c3235" vector-effect="non-scaling-stroke"/>'
        for y in (25, 50, 75)
    )
    return (
        f'<div class="axis">{html.escape(_fmt(peak, unit))}</div>'
        f'<svg viewBox="0 0 100 100" preserveAspectRatio="none">{grid}{"".join(lines)}</svg>'
        f'<div class="legend">{"".join(legend)}</div>'
    )


def page(dashboard: dict[str, Any], scrapes: list[Samples], times: list[float]) -> str:
    cells = []
    row_h = 34
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        style = f"left:calc({g['x']} * 100% / 24);top:{g['y'] * row_h}px;width:calc({g['w']} * 100% / 24 - 8px);height:{g['h'] * row_h - 8}px"
        if panel["type"] == "row":
            cells.append(f'<div class="row" style="{style}">{html.escape(panel["title"])}</div>')
            continue
        unit = panel["fieldConfig"]["defaults"]["unit"]
        points = []
        for i in range(1, len(scrapes)):
            merged: dict[str, float] = {}
            for target in panel["targets"]:
                values = evaluate(target["expr"], scrapes[i - 1], scrapes[i], times[i] - times[i - 1])
                for key, v in values.items():
                    merged[_legend(target["legendFormat"], key)] = v
            points.append(merged)
        cells.append(
            f'<div class="panel" style="{style}"><div class="title">{html.escape(panel["title"])}</div>'
            f"{render_panel(panel, points, unit)}</div>"
        )
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"]) * row_h
    span = times[-1] - times[0]
    return f"""<!doctype html><meta charset="utf-8"><style>
body{{margin:0;background:#111217;color:#ccccdc;font:13px Inter,Helvetica,Arial,sans-serif}}
header{{padding:10px 16px;border-bottom:1px solid #2c3235;display:flex;justify-content:space-between}}
header b{{font-size:16px;color:#fff}} .note{{color:#8e8e8e}}
.grid{{position:relative;margin:8px;height:{height}px}}
.panel{{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;box-sizing:border-box;
  padding:6px 8px;display:flex;flex-direction:column}}
.row{{position:absolute;font-weight:600;color:#fff;padding-top:8px}}
.title{{font-weight:500;color:#d8d9da;margin-bottom:4px}}
.stat{{flex:1;display:flex;align-items:center;justify-content:center}}
.big{{font-size:34px;color:#73bf69;font-weight:500}}
svg{{flex:1;width:100%;min-height:0}} .axis{{color:#8e8e8e;font-size:10px}}
.legend{{font-size:11px;display:flex;flex-wrap:wrap;gap:2px 12px;max-height:36px;overflow:hidden}}
.legend i{{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}}
.nodata{{flex:1;display:flex;align-items:center;justify-content:center;color:#8e8e8e}}
</style><header><span><b>mediagate</b> · dashboard preview of docs/grafana/mediagate.json</span>
<span class="note">rendered from {len(scrapes)} real /metrics scrapes over {span:.0f} s of driven traffic —
not Grafana (not installable here)</span></header><div class="grid">{"".join(cells)}</div>"""


def main() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    with tempfile.TemporaryDirectory() as tmp, running_file_server() as files:
        data = Path(tmp) / "data"
        with running_server(data, f"sqlite:///{data / 'mediagate.db'}", MEDIAGATE_LOG_LEVEL="warning") as srv:
            acct = srv.new_account("preview")
            media_url = files.add("/cat.png", png_bytes(64 * 1024))
            bad_url = f"{files.base}/missing-{secrets.token_hex(4)}.png"
            files.add("/tiny.png", PNG)
            stop = threading.Event()
            workers = [
                threading.Thread(
                    target=drive, args=(srv.base_url, acct.sid, acct.token, media_url, bad_url, stop)
                )
                for _ in range(2)
            ]
            for t in workers:
                t.start()
            time.sleep(2)
            try:
                scrapes, times = collect(srv.base_url)
            finally:
                stop.set()
                for t in workers:
                    t.join()
    html_path = Path(tempfile.gettempdir()) / f"mediagate-grafana-preview-{secrets.token_hex(4)}.html"
    html_path.write_text(page(dashboard, scrapes, times))
    screenshot(html_path, OUT)
    html_path.unlink()
    print(f"wrote {OUT}")


def screenshot(source: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
        pg.goto(source.as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(out), full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
