"""The web console, served by the API process under ``/console``.

``mediagate.http.app`` mounts ``routes`` there; see ``docs/console.md``.
"""

from mediagate.console.routes import routes

__all__ = ["routes"]
