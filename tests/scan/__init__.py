"""Tests of minigraph.scan: the builder, the Scan op and its loop, BPTT, the scan rewrites."""
