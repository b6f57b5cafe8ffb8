"""The Starlette app (``app.create_app``), what every HTTP part shares, and the OpenAPI document."""
