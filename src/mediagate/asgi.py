"""ASGI entry point for uvicorn workers: settings from ``MEDIAGATE_*``."""

from __future__ import annotations

from mediagate.app import create_app
from mediagate.context import build_runtime
from mediagate.logging_setup import configure
from mediagate.settings import Settings

_settings = Settings()
configure(_settings.log_level, _settings.log_format)
# The parent `mediagate serve` has already migrated; workers only connect.
app = create_app(build_runtime(_settings, migrate=False))
