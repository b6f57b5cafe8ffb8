"""What each kind of credential may do.

* Auth tokens (primary or secondary) and *main* keys: everything.
* *Standard* keys: everything but managing accounts and API keys (Twilio's rule).
* *Restricted* keys: only the permissions listed in their policy, and never
  account, key or setting management, whatever the policy says. Twilio does
  not publish how restricted keys meet every v2010 resource; where unclear we
  refuse (the safer reading) and list the grantable permissions here.
"""

from __future__ import annotations

from typing import Final

MESSAGES_READ: Final = "/twilio/messaging/messages/read"
MESSAGES_CREATE: Final = "/twilio/messaging/messages/create"
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
        MESSAGES_DELETE,
        MEDIA_READ,
        MEDIA_DELETE,
        NUMBERS_READ,
        NUMBERS_WRITE,
        SETTINGS_READ,
    }
)
STANDARD_DENIED: Final = frozenset({MANAGE_ACCOUNTS, MANAGE_KEYS})
