"""``benchmarks/softmax_xent.py``: both candidates agree on every shape, and it prints one
row per shape, dtype and part."""

import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                             "benchmarks"))

import softmax_xent  # noqa: E402


def test_rows_of_a_short_run(capsys):
    softmax_xent.main(["--repeats", "1"])
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.endswith("x")]
    assert len(rows) == len(softmax_xent.SHAPES) * 2 * 2
    assert all(float(r.split()[-1].rstrip("x")) > 0 for r in rows)
