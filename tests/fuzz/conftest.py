"""Hypothesis profiles for the fuzz suite.

``make test`` runs the default profile (200 examples per property, bounded so
the suite stays quick on a shared machine); ``make fuzz`` selects the ``fuzz``
profile through HYPOTHESIS_PROFILE. No deadline: timing is not what these
properties are about, and a loaded machine would make it flaky.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "fuzz", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
