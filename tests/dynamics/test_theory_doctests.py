"""The docstring examples of the theory modules run as part of the default suite."""

from __future__ import annotations

import doctest

import pytest

import spectral_edge.dynamics.commutator as commutator
import spectral_edge.dynamics.gapflow as gapflow


@pytest.mark.parametrize("module", [commutator, gapflow], ids=lambda m: m.__name__)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
