"""Foundations every part may use: settings, errors, sids, the clock, time and text formats,
paging, the master secret. Imports nothing of mediagate but ``core``."""
