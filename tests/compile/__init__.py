"""Tests of minigraph.compile: function, linker, modes, shared variables, profiling."""
