"""RSGI entry point for granian's worker processes (``mediagate serve --workers N``)."""

from __future__ import annotations

from mediagate.asgi import app as _asgi_app
from mediagate.serving.app import RsgiApp

app = RsgiApp(_asgi_app)
