"""``python -m mediagate.http.openapi extract TWILIO_OAI_DIR``: refresh the copy of Twilio's operations."""

import sys

from mediagate.http.openapi.twilio import main

raise SystemExit(main(sys.argv[1:]))
