"""``benchmarks/gemm_layouts.py``: its candidates compute the same products, and it prints
one row per product."""

import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                             "benchmarks"))

import gemm_layouts  # noqa: E402


def test_rows_of_a_small_run(capsys):
    gemm_layouts.worker(threads=1, repeats=2, scale=16)  # sizes / 16: a fraction of a second
    out = capsys.readouterr().out.splitlines()
    rows = [ln for ln in out if ln.endswith("x") and "/" in ln]
    assert len(rows) == len(gemm_layouts.TRANSPOSE_SHAPES) + len(gemm_layouts.SLICE_SHAPES)
    for row in rows:
        assert float(row.split()[-1].rstrip("x")) > 0
