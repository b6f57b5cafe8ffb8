"""The server's application, settings from ``MEDIAGATE_*``: what granian runs.

``mediagate serve`` imports it in its own process (one worker, embedded:
``serving/embedded.py``), and granian's worker processes import it by name
(``mediagate.serving.rsgi:app``, ``--workers N``). Embedding mediagate in another
ASGI server needs no module of its own: ``create_app(build_runtime(Settings()))``.
"""

from __future__ import annotations

from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.observability.logging_setup import configure
from mediagate.runtime.context import build_runtime
from mediagate.serving.app import RsgiApp

_settings = Settings()
configure(_settings.log_level, _settings.log_format)
# The parent `mediagate serve` has already migrated; workers only connect.
app = RsgiApp(create_app(build_runtime(_settings, migrate=False)))
