"""Hypothesis profiles for the fuzz campaign (tests/fuzz).

* ``ci`` (the default): few examples per property, derandomized so every CI run draws the same
  inputs; the whole directory stays well under a minute on a loaded 2-core machine.
* ``campaign``: thousands of examples per property, randomized, for a real search:

      HYPOTHESIS_PROFILE=campaign OMP_NUM_THREADS=1 .venv/bin/pytest tests/fuzz -q

The profile is applied per test (``fuzz(...)`` in each module), not loaded globally, so running
tests/fuzz beside the rest of the suite does not change how the other hypothesis tests run.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    print_blob=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
settings.register_profile("ci", max_examples=20, derandomize=True, **_COMMON)
settings.register_profile("campaign", max_examples=2000, derandomize=False, **_COMMON)
