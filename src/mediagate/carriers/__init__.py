"""Carrier adapters: where an outbound message goes, and how inbound ones arrive.

* ``loopback``: a message sent to a number some account here owns is delivered
  to that number as an inbound message (its media copied under the inbound
  message with the receiving account's current setting).
* ``offnet``: any other number; the message is handed off (``sent``) and
  nothing more is known about it, as with a carrier without delivery receipts.
* ``ingress``: the carrier-simulation side: ``POST /v1/Carrier/Inbound`` and
  ``mediagate inbound`` deliver an inbound SMS/MMS/WhatsApp message with
  media from URLs or local files, as a carrier would.
"""

from mediagate.carriers.base import Carrier, receive, set_status
from mediagate.carriers.handoff import dispatch

__all__ = ["Carrier", "dispatch", "receive", "set_status"]
