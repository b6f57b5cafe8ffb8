"""The ``mediagate`` command in this process, through typer's ``CliRunner``.

A ``mediagate`` subprocess costs a Python start and every import (seconds each
on a loaded machine); a test about what a command does, not about starting a
process, runs it here instead. ``run_cli`` answers like ``subprocess.run``
(``returncode``, ``stdout``, ``stderr``), so the assertions stay as they were.
Each command group keeps one test that runs the real executable.

What a separate process would not leave behind is undone: the runtimes the
command built are closed (their engines and threads), the logging set-up the
command made (``logging_setup.configure``) is put back, ``MEDIAGATE_*``
variables of this process that ``env`` does not name are hidden from it, as
``subprocess.run(env=...)`` would, and the output is as wide as ``env``'s
``COLUMNS`` says (unwrapped when unset: the output is not a terminal), as in a new process.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from typer.testing import CliRunner

from mediagate.cli import common as cli_common
from mediagate.cli import main as cli
from mediagate.observability.logging_setup import QUIET_LOGGERS, SERVER_ACCESS_LOGGERS, SERVER_LOGGERS
from mediagate.runtime.context import Runtime, build_runtime


@dataclass
class Done:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would give."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


class _Runner(CliRunner):
    def get_default_prog_name(self, cli: Any) -> str:
        return "mediagate"  # usage lines read "Usage: mediagate ...", as from the executable


def run_cli(env: Mapping[str, str], *args: str, input: str | None = None) -> Done:
    """``mediagate *args`` with exactly ``env``'s ``MEDIAGATE_*`` settings."""
    hidden: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("MEDIAGATE_") and k not in env
    }
    built: list[Runtime] = []

    def tracked(*a: Any, **kw: Any) -> Runtime:
        rt = build_runtime(*a, **kw)
        built.append(rt)
        return rt

    with (
        _logging_restored(),
        mock.patch.object(cli_common, "build_runtime", tracked),
        # The consoles took their width from COLUMNS when this process imported the
        # CLI; a new process takes it from env's: unset, rich reads it at each print.
        mock.patch.object(cli_common.out, "_width", None),
        mock.patch.object(cli_common.err, "_width", None),
    ):
        try:
            result = _Runner().invoke(cli.app, list(args), env={**env, **hidden}, input=input)
        finally:
            for rt in built:
                rt.close()
    stderr = result.stderr
    if (
        result.exc_info is not None
        and result.exception is not None
        and not isinstance(result.exception, SystemExit)
    ):
        # Uncaught: the executable would print the traceback and exit 1.
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return Done(list(args), result.exit_code, result.stdout, stderr)


@contextmanager
def _logging_restored() -> Iterator[None]:
    names = ["", *SERVER_LOGGERS, *QUIET_LOGGERS, *SERVER_ACCESS_LOGGERS]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in (logging.getLogger(n) for n in names)]
    factory = logging.getLogRecordFactory()  # configure() installs the redacting one
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        for lg, handlers, level, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
