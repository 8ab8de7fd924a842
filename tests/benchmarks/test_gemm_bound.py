"""``benchmarks/gemm_bound.py``: the GEMM set of a training step, and the products it runs."""

import os
import sys

import numpy as np

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                             "benchmarks"))

import gemm_bound  # noqa: E402


def test_gemm_set_of_a_step():
    H, T, B, V = 4, 3, 2, 5
    gemms = gemm_bound.train_gemms(2, H, T, B, V, [(1, 4)], 4)
    what = [g[0] for g in gemms]
    assert what.count("recurrent forward") == 2 and what.count("input forward") == 1
    # per layer: 3 recurrent products of 2*B*H*4H each T times, a dW of 2*H*TB*4H; layer 1
    # adds 3 of 2*TB*H*4H; the output layer 3 of 2*TB*H*V
    per_layer = 2 * (2 * B * H * 4 * H * T) + 2 * H * T * B * 4 * H
    want = 2 * per_layer + 3 * 2 * T * B * H * 4 * H + 3 * 2 * T * B * H * V
    assert gemm_bound.gemm_flops(gemms) == want
    step = gemm_bound.GemmStep(gemms, dtype="float64")
    step()
    for (_, layout, m, k, n, _), (a, b, c, _) in zip(gemms, step.calls):
        assert a.shape == (m, k) and b.shape == (k, n) and a.flags.f_contiguous == (
            layout[0] == "t")
        np.testing.assert_allclose(c, a @ b)
