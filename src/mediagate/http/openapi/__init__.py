"""The OpenAPI 3 document served at ``/openapi.json`` (and rendered at ``/docs``).

Two halves:

* Twilio's own operations, for the resources we implement, copied from
  Twilio's OpenAPI files (MIT, ``twilio-oai``) into ``apidocs/twilio_subset.json``
  by ``python -m mediagate.http.openapi extract DIR`` (``twilio.py``).
* What Twilio's files omit: the media content URL (307/401), the error bodies
  every operation can answer, and our own resources (MessagingSettings,
  MediaDelivery, MediaRetention, revocations and the access audit,
  WebhookDeliveries, the carrier ingress, IAM v1 keys), whose forms and bodies
  are pydantic models (``api/forms.py``, ``api/representations.py``) and whose
  schemas are those models' (``ours.py``, ``components.py``); the media hosts
  and the operational endpoints (``hosts.py``).

The document is built from the app's routing table the first time it is asked
for: optional operations (``/readyz``, ``/metrics``) appear only when a route
serves them, and the media hosts are described where the settings put them (a
path prefix of the API, or a hostname of their own via a path-level
``servers``). ``tests/e2e/test_openapi.py`` checks that every route has an
operation and every operation a route. The console is HTML for browsers and is
left out (see ``info.description``).
"""

from mediagate.http.openapi.document import OPTIONAL_PATHS, build, route_paths
from mediagate.http.openapi.shapes import METHODS
from mediagate.http.openapi.twilio import SUBSET, extract_twilio

__all__ = ["METHODS", "OPTIONAL_PATHS", "SUBSET", "build", "extract_twilio", "route_paths"]
