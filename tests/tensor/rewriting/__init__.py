"""Tests of minigraph.tensor.rewriting: the rule sets, one file per purpose."""
