"""The carrier ingress credential tests use to play the carrier (``/v1/Carrier/Inbound``)."""

from __future__ import annotations

from mediagate.messaging import carrier_credentials
from tests.support.server import RunningServer

_made: dict[str, tuple[str, str]] = {}


def carrier_auth(server: RunningServer) -> tuple[str, str]:
    """A deployment-level carrier credential for ``server``'s database (one per database)."""
    db = server.env["MEDIAGATE_DATABASE_URL"]
    if db not in _made:
        made = carrier_credentials.create(server.runtime, "tests")
        _made[db] = (made.credential.sid, made.secret)
    return _made[db]
