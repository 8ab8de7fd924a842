"""Tests of minigraph.tensor: constructors, op families, rewrites."""
