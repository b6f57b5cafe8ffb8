"""Messages, their status changes, phone numbers and the operator's pool, channels,
inbound arrival and the outbox to carriers."""
