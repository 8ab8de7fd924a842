"""The reference backward against central finite differences of the reference forward (float64).

The reference is the oracle for every other backend, so its gradients are checked here from
first principles: loss = sum(G * outputs) for a random G, every input perturbed one entry at
a time.
"""

import numpy as np
import pytest

from kernels import gru_ref

EPS = 1e-6
RTOL, ATOL = 1e-6, 1e-8  # central differences in float64: error ~EPS^2 + 1e-16 / EPS


def _numeric_grad(loss, x):
    """d loss / d x by central differences, perturbing ``x`` in place and restoring it."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + EPS
        up = loss()
        flat[i] = old - EPS
        down = loss()
        flat[i] = old
        gflat[i] = (up - down) / (2 * EPS)
    return g


@pytest.mark.parametrize("B,H", [(1, 3), (2, 4)])
def test_step_gradients(B, H, gru_data):
    d = gru_data(B, H)
    gx, h, W, b, G = (d.ref[k] for k in ("gx", "h0", "W_h", "b_h", "dh"))

    def loss():
        return float(np.sum(G * gru_ref.gru_step_fwd(gx, h, W, b)[0]))

    _, saved = gru_ref.gru_step_fwd(gx, h, W, b)
    dgx, dh, dW, db = gru_ref.gru_step_bwd(G, h, W, saved)
    for name, x, analytic in (("gx", gx, dgx), ("h", h, dh), ("W_h", W, dW), ("b_h", b, db)):
        np.testing.assert_allclose(analytic, _numeric_grad(loss, x), RTOL, ATOL, err_msg=name)


@pytest.mark.parametrize("B,H,T", [(1, 3, 1), (2, 3, 4)])
def test_seq_gradients(B, H, T, gru_data):
    d = gru_data(B, H, T)
    gx, h0, W, b, G = (d.ref[k] for k in ("gx", "h0", "W_h", "b_h", "dh"))

    def loss():
        return float(np.sum(G * gru_ref.gru_seq_fwd(gx, h0, W, b)[0]))

    hs, saved = gru_ref.gru_seq_fwd(gx, h0, W, b)
    dgx, dh0, dW, db = gru_ref.gru_seq_bwd(G, h0, hs, W, saved)
    for name, x, analytic in (("gx", gx, dgx), ("h0", h0, dh0), ("W_h", W, dW), ("b_h", b, db)):
        np.testing.assert_allclose(analytic, _numeric_grad(loss, x), RTOL, ATOL, err_msg=name)


def test_seq_gradient_of_last_state_only(gru_data):
    # A loss on h_T alone must reach h0 through every step (the carry path).
    d = gru_data(2, 3, 3)
    gx, h0, W, b = (d.ref[k] for k in ("gx", "h0", "W_h", "b_h"))
    G = np.zeros((3, 2, 3))
    G[-1] = d.ref["dh"][-1]

    def loss():
        return float(np.sum(G * gru_ref.gru_seq_fwd(gx, h0, W, b)[0]))

    hs, saved = gru_ref.gru_seq_fwd(gx, h0, W, b)
    dgx, dh0, _, _ = gru_ref.gru_seq_bwd(G, h0, hs, W, saved)
    assert np.abs(dh0).max() > 1e-4  # non-trivial
    np.testing.assert_allclose(dh0, _numeric_grad(loss, h0), RTOL, ATOL)
    np.testing.assert_allclose(dgx, _numeric_grad(loss, gx), RTOL, ATOL)
