"""The docstring examples of the dynamics modules run as part of the default suite."""

from __future__ import annotations

import doctest

import pytest

import spectral_edge.dynamics._series as series
import spectral_edge.dynamics.grokking as grokking
import spectral_edge.dynamics.phases as phases
import spectral_edge.dynamics.summary as summary
import spectral_edge.dynamics.warning as warning


@pytest.mark.parametrize(
    "module", [series, phases, grokking, summary, warning], ids=lambda m: m.__name__
)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
