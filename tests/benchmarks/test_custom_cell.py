"""``benchmarks/custom_cell.py``: its models are the same in minigraph and PyTorch, the plain
GRU is not turned into the fused one, and the harness runs end to end.

Tiny sizes: these check that the benchmark compares like with like, not speed.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.append(os.path.abspath(BENCH))

import custom_cell as cc  # noqa: E402

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", sorted(cc.CELLS))
@pytest.mark.parametrize("sizes", [(5, 3, 2, 7), (3, 1, 1, 4)])  # H, T, B, V; batch 1, T 1
def test_minigraph_cell_equals_torch_cell(cell, sizes, dtype):
    # SGD with a large rate: the later losses differ unless the gradients agree too
    mg = cc.minigraph_train(cell, sizes, "sgd", lr=0.5, dtype=dtype)
    pt = cc.torch_train(cell, sizes, "sgd", lr=0.5, dtype=dtype)
    ours, theirs = [mg() for _ in range(3)], [pt() for _ in range(3)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if dtype == "float32" else 1e-12)
    assert ours[2] < ours[0]  # it learns: the same data every step


def test_fused_gru_equals_plain_gru_and_plain_is_not_matched():
    sizes = (6, 4, 3, 5)
    plain = cc.minigraph_train("gru", sizes, "adam", lr=0.05)
    fused = cc.minigraph_train("gru", sizes, "adam", lr=0.05, fused=True)
    np.testing.assert_allclose([plain() for _ in range(3)], [fused() for _ in range(3)],
                               rtol=1e-5)
    ops = {type(n.op).__name__ for n in plain.function.fgraph.toposort()}
    assert "Scan" in ops and not any(name.startswith("GRU") for name in ops), ops


def test_adam_steps_equal_torch():
    mg, pt = (f("peephole", (4, 3, 2, 5), "adam", lr=0.01)
              for f in (cc.minigraph_train, cc.torch_train))
    np.testing.assert_allclose([mg() for _ in range(4)], [pt() for _ in range(4)], rtol=1e-5)


def test_harness_end_to_end(tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, os.path.join(BENCH, "custom_cell.py"), "--cells", "mgu",
         "--configs", "tiny", "--threads", "1", "--rounds", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    row = json.loads(out.read_text())["1"]["mgu"]["tiny"]
    assert set(row["seconds"]) == {"minigraph", "torch", "gemm"}
    assert all(s > 0 for s in row["seconds"].values()) and not row["errors"]
    assert "speed-up" in done.stdout and "mgu      tiny" in done.stdout
