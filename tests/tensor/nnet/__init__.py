"""Tests of minigraph.tensor.nnet."""
