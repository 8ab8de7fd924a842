"""Fixtures of the code generator's tests."""

import pytest

from minigraph.codegen import scanloop


@pytest.fixture
def eager(monkeypatch):
    """Scan loops compile at their first call, in the calling thread (``scanloop.POLICY``
    restored afterwards)."""
    monkeypatch.setattr(scanloop.POLICY, "enabled", True)
    monkeypatch.setattr(scanloop.POLICY, "compile_after_calls", 0)
    monkeypatch.setattr(scanloop.POLICY, "background", False)
    return scanloop.POLICY
