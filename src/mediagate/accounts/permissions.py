"""What each kind of credential may do.

* Auth tokens (primary or secondary) and *main* keys: everything.
* *Standard* keys: everything but managing accounts and API keys (Twilio's rule).
* *Restricted* keys: only the permissions listed in their policy, and never
  account, key or setting management, whatever the policy says. Twilio does
  not publish how restricted keys meet every v2010 resource; where unclear we
  refuse (the safer reading) and list the grantable permissions here.
"""

from __future__ import annotations

import json
from typing import Final

MESSAGES_READ: Final = "/twilio/messaging/messages/read"
MESSAGES_CREATE: Final = "/twilio/messaging/messages/create"
MESSAGES_UPDATE: Final = "/twilio/messaging/messages/update"  # UpdateMessage: redaction
MESSAGES_DELETE: Final = "/twilio/messaging/messages/delete"
MEDIA_READ: Final = "/twilio/messaging/messages/media/read"
MEDIA_DELETE: Final = "/twilio/messaging/messages/media/delete"
NUMBERS_READ: Final = "/twilio/phone-numbers/read"
NUMBERS_WRITE: Final = "/twilio/phone-numbers/write"
SETTINGS_READ: Final = "/twilio/messaging/settings/read"

# Never grantable to restricted keys; standard keys lack the first two too.
MANAGE_ACCOUNTS: Final = "manage-accounts"
MANAGE_KEYS: Final = "manage-keys"
SETTINGS_WRITE: Final = "/twilio/messaging/settings/write"

GRANTABLE: Final = frozenset(
    {
        MESSAGES_READ,
        MESSAGES_CREATE,
        MESSAGES_UPDATE,
        MESSAGES_DELETE,
        MEDIA_READ,
        MEDIA_DELETE,
        NUMBERS_READ,
        NUMBERS_WRITE,
        SETTINGS_READ,
    }
)
STANDARD_DENIED: Final = frozenset({MANAGE_ACCOUNTS, MANAGE_KEYS})

# Every permission a route (API or console) may name: tests/unit/test_api_routes.py
# checks each API declaration against this set, and that the console's words for
# them (console/web.py ABILITIES, which its pages are checked against) cover it.
ALL: Final = GRANTABLE | {MANAGE_ACCOUNTS, MANAGE_KEYS, SETTINGS_WRITE}


def stored_grants(kind: str, stored: str | None) -> tuple[str, ...]:
    """The permissions a key row lists (its ``permissions`` column, JSON), in stored
    order: the one reader of that column, for the authenticator and the key's
    representation alike. Only restricted keys carry a list; what it may actually
    do is still ``Principal.allows``' to say (a forged row listing management
    grants nothing)."""
    if kind != "restricted" or not stored:
        return ()
    return tuple(json.loads(stored))
