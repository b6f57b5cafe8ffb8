"""The server's application, settings from ``MEDIAGATE_*``: what granian runs.

``mediagate serve`` imports it in its own process (one worker, embedded:
``serving/embedded.py``), and granian's worker processes import it by name
(``mediagate.rsgi:app``, ``--workers N``). Embedding mediagate in another
ASGI server needs no module of its own: ``create_app(build_runtime(Settings()))``.
"""

from __future__ import annotations

from mediagate.app import create_app
from mediagate.context import build_runtime
from mediagate.logging_setup import configure
from mediagate.serving.app import RsgiApp
from mediagate.settings import Settings

_settings = Settings()
configure(_settings.log_level, _settings.log_format)
# The parent `mediagate serve` has already migrated; workers only connect.
app = RsgiApp(create_app(build_runtime(_settings, migrate=False)))
