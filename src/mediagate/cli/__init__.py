"""``mediagate``: one module per command group (``main`` holds the app and ``serve``)."""
