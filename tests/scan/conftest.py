"""Fixtures for the scan tests: a seeded random generator that prints its seed."""

import os

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """A fresh generator; its seed is printed (shown on failure) and can be fixed with
    ``MINIGRAPH_TEST_SEED`` to replay a failing run."""
    seed = int(os.environ.get("MINIGRAPH_TEST_SEED") or np.random.SeedSequence().entropy % 2**32)
    print(f"random seed {seed} for {request.node.name}")
    return np.random.default_rng(seed)
