"""Tests of minigraph.graph: variables, ops, types, function graphs, rewrites, passes."""
