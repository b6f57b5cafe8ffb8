"""Metrics, structured access logs, request ids and health (docs/observability.md).

Import the submodules directly; this package imports nothing so that
``mediagate.accounts.auth`` and the services can use ``observability.metrics``
without pulling the HTTP routes in.
"""
