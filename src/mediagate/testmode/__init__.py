"""Test mode (docs/test-mode.md): mediagate as a test double for Twilio media code.

Off by default. With ``MEDIAGATE_TEST_MODE=true`` the runtime carries a
``TestMode`` (``state.py``): the clock tests move, the armed faults
(``faults.py``), the journal of what happened (``journal.py``), the reset
(``reset.py``) and the seed file (``seed.py``). ``/v1/Testing/*`` is their HTTP
face (``api/testing.py``), mounted only in test mode. ``pytest_plugin.py`` is
the pytest plugin the package registers (entry point ``pytest11``).

This package imports nothing at import time: the pytest plugin is loaded into
every pytest run of an environment where mediagate is installed.
"""
