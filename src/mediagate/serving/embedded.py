"""``mediagate serve`` with one process: granian embedded in our own event loop.

granian's multi-process server forks workers; a parent killed with SIGKILL
left them serving, orphaned, on the port. Embedded, the process that listens
is the process that was started: killing it ends the server, and the
lifespan (the background workers) runs in the same loop as the requests.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from mediagate.observability.lines import lines
from mediagate.observability.logging_setup import granian_log_config

log = logging.getLogger("mediagate.serving")


class _DropExperimentalWarning(logging.Filter):
    # granian warns on every start that embedding is experimental; we chose it
    # knowingly (bench/analysis.md) and the warning would hide real ones.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Embedded server is experimental" not in record.getMessage()


async def _serve(host: str, port: int, log_level: str, threads: int) -> None:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    from mediagate.serving.app import settle_heap
    from mediagate.serving.rsgi import app as rsgi

    await rsgi.lifespan.startup()  # before listening: the first request finds the workers running
    settle_heap()
    try:
        server = Server(
            rsgi,
            address=host,
            port=port,
            interface=Interfaces.RSGI,
            runtime_threads=threads,
            log_access=False,  # an access log would record signed-URL signatures
            log_level=log_level.lower(),  # type: ignore[arg-type]
            log_dictconfig=granian_log_config(),  # its loggers go through our handler
        )
        logging.getLogger("_granian").addFilter(_DropExperimentalWarning())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.serve()
    finally:
        await rsgi.lifespan.shutdown()
        lines.flush()


def run(host: str, port: int, log_level: str, threads: int) -> None:
    # uvloop, a direct dependency: this loop runs the Python half of every
    # request (the bridge, Starlette, the background work), and the worker
    # processes of `--workers N` get the same loop (cli/main.py, _serve_granian).
    uvloop.run(_serve(host, port, log_level, threads))
