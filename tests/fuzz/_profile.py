"""The active fuzz profile and the per-test example budget (see conftest.py)."""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE = settings.get_profile(PROFILE_NAME)
CAMPAIGN = PROFILE_NAME == "campaign"


def fuzz(ci: int, campaign: int | None = None) -> settings:
    """Settings for one property: ``ci`` examples in the ci profile, ``campaign`` (default: the
    campaign profile's max_examples) in the campaign profile."""
    n = (campaign or PROFILE.max_examples) if CAMPAIGN else ci
    return settings(PROFILE, max_examples=n)
