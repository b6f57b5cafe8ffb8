"""The consistency bound: how long after ``publish`` another process has
dropped what it remembered (``mediagate.cluster.invalidation`` over Redis pub/sub).

A listener process runs the real ``Invalidation`` bus; this process publishes
through another one, with the send time as the key, and the listener records
``receive - send`` for each message (one machine, one clock). Reported:
median, p99 and maximum in milliseconds, plus the time a fresh listener takes
to subscribe (caches stay off until then).

``python -m bench.consistency [--redis redis://127.0.0.1:6379/0] [--messages 500]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import secrets
import statistics
import time
from typing import Any

from mediagate.cluster.invalidation import Invalidation

TOPIC = "bench"


def _listen(url: str, prefix: str, expected: int, out: Any, ready: Any) -> None:
    bus = Invalidation(url, prefix)
    delays: list[float] = []

    def got(key: str) -> None:
        delays.append(time.time() - float(key))

    bus.subscribe(TOPIC, got)
    started = time.monotonic()
    bus.start()
    bus.wait_subscribed(30)
    ready.put(time.monotonic() - started)
    deadline = time.monotonic() + 60
    while len(delays) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    bus.stop()
    out.put(delays)


def measure(url: str = "redis://127.0.0.1:6379/0", messages: int = 500, gap: float = 0.002) -> dict[str, Any]:
    prefix = f"mg-bench-{secrets.token_hex(4)}"
    ctx = mp.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_listen, args=(url, prefix, messages, out, ready))
    proc.start()
    subscribe_s = float(ready.get(timeout=60))
    bus = Invalidation(url, prefix)
    for _ in range(messages):
        bus.publish(TOPIC, repr(time.time()))
        time.sleep(gap)
    delays_ms = sorted(d * 1000 for d in out.get(timeout=90))
    proc.join(10)
    bus.stop()
    if not delays_ms:
        return {"messages": messages, "received": 0}
    return {
        "messages": messages,
        "received": len(delays_ms),
        "median_ms": round(statistics.median(delays_ms), 3),
        "p99_ms": round(delays_ms[min(len(delays_ms) - 1, int(len(delays_ms) * 0.99))], 3),
        "max_ms": round(delays_ms[-1], 3),
        "subscribe_ms": round(subscribe_s * 1000, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.consistency", description=__doc__)
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--messages", type=int, default=500)
    args = p.parse_args()
    print(json.dumps(measure(args.redis, args.messages), indent=2))


if __name__ == "__main__":
    main()
