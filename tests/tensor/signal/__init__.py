"""Tests of minigraph.tensor.signal."""
