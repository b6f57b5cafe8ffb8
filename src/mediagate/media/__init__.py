"""Stored media: its rows, MediaUrl ingest (SSRF-safe fetch, fair shares), the content
URL's decision, signing, delivery, revocation, the access audit, encryption at rest."""
