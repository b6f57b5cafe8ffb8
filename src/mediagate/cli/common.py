"""What every command group shares: settings and the runtime from the environment, one-line
failures, and the arguments several commands take."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from typer.core import TyperGroup

from mediagate.cli import serverinfo
from mediagate.core import settings as settings_mod
from mediagate.core import sids
from mediagate.core.errors import ApiError
from mediagate.core.settings import Settings
from mediagate.observability.logging_setup import configure
from mediagate.runtime.context import Runtime, build_runtime

# Every group's Typer has plain click help (rich_markup_mode=None); commands whose first
# docstring sentence is long carry a short_help: click cuts the summary in the command
# list at 80 columns ("...") otherwise.

# Arguments shared by several commands, each with its help (shown by --help).
AccountSid = Annotated[str, typer.Argument(help="The account: AC followed by 32 hex digits.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table or text.")]

# Output that is not a terminal (a pipe, a file, a CI log, a test's capture) is
# never wrapped: rich would cut it at 80 columns, and a command split over two lines
# (``numbers assign +1555... \nAC...``) no longer pastes. A terminal keeps rich's
# width, and COLUMNS, when set, still wins.
UNWRAPPED = 10_000


class _Console(Console):
    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        # The file itself, not rich's is_terminal: FORCE_COLOR (set by some CI and test
        # runners) makes rich call a pipe a terminal.
        isatty = getattr(self.file, "isatty", None)
        if isatty is not None and isatty():
            return found
        # COLUMNS is read now, not when the console was made: rich fixes its width
        # from the COLUMNS of import time, which a long-lived process (a test run)
        # may have changed since.
        columns = self._environ.get("COLUMNS", "")
        return ConsoleDimensions(int(columns) if columns.isdigit() else UNWRAPPED, found.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


out = _Console()
err = _Console(stderr=True)


def load_settings(*, use_running_server: bool = True) -> Settings:
    """Settings from the environment: one line and exit status 2 for a bad value,
    a warning for an unknown MEDIAGATE_* name; the running server's URL for the
    API base unless MEDIAGATE_PUBLIC_URL says otherwise (``serverinfo``)."""
    for warning in settings_mod.unknown_variables(os.environ):
        err.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    try:
        settings = settings_mod.load()
        if use_running_server and "MEDIAGATE_PUBLIC_URL" not in os.environ:
            running = serverinfo.running_url(settings.data_dir)
            if running is not None:
                settings = settings_mod.load(public_url=running)
    except settings_mod.SettingsError as exc:
        fail(str(exc))
    return settings


def open_runtime() -> Runtime:
    settings = load_settings()
    # Quiet by default: the CLI prints its own results.
    configure(settings.log_level if "MEDIAGATE_LOG_LEVEL" in os.environ else "warning", settings.log_format)
    return runtime_for(settings)


def runtime_for(settings: Settings) -> Runtime:
    """``build_runtime``, with a bad encryption set-up said in one line (exit status 2)."""
    from mediagate.media.encryption import EncryptionConfigError

    try:
        return build_runtime(settings)
    except EncryptionConfigError as exc:
        fail(str(exc))


class CommandGroup(TyperGroup):
    """The root of the command tree (``cli/main.py``): a service's ``ApiError``
    from any command below it (a refused value, an unknown sid) is said as
    ``fail`` says it, one line and exit status 2, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            fail(exc.message)


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


def print_secret(sid_label: str, sid: str, secret: str, friendly_name: str, *, as_json: bool) -> None:
    """A credential made just now, with its secret: shown this once."""
    if as_json:
        sys.stdout.write(json.dumps({"sid": sid, "secret": secret, "friendly_name": friendly_name}) + "\n")
    else:
        out.print(f"{sid_label}  {sid}\nSecret       {secret}  (shown only now)")


def checked_account_sid(value: str) -> str:
    if not sids.is_sid(value, sids.ACCOUNT):
        fail(f"{value!r} is not an Account SID (AC + 32 hex digits)")
    return value
