"""Hypothesis profiles for the property tests.

``ci`` (default) keeps the whole suite well under 90 s on 2 cores; ``thorough`` is
for hunting bugs locally: ``HYPOTHESIS_PROFILE=thorough pytest tests/property``.
No deadline: LMDB commits and the compactor thread make timings noisy.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

settings.register_profile("ci", max_examples=300, stateful_step_count=50, **_COMMON)
settings.register_profile("thorough", max_examples=1000, stateful_step_count=60, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
