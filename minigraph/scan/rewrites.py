"""Scan passes of the compilation pipeline (``SCAN_PASSES``)."""

SCAN_PASSES = []
