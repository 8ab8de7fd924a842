"""Every backend against the float64 NumPy reference: steps and sequences, forward and backward.

One body per kernel pair, parametrised (``case`` in conftest) over backend x dtype x size,
including B=1, ragged sizes and T=1.  Inputs are random with a printed seed; the backend gets
them in its dtype and the reference the float64 values of exactly those numbers, so only the
backend's own arithmetic error is measured.
"""

import numpy as np
import pytest

import kernels
from kernels import gru_ref


def _copies(arrays):
    return [np.array(a, copy=True) for a in arrays]


def _assert_unchanged(before, after, what):
    for i, (a, b) in enumerate(zip(before, after)):
        assert np.array_equal(a, b), f"{what}: input {i} was modified"


def test_step_matches_reference(case, gru_data, assert_matches):
    d = gru_data(case.B, case.H, dtype=case.dtype)
    c, r = d.cast, d.ref
    fwd_in = [c["gx"], c["h0"], c["W_h"], c["b_h"]]
    before = _copies(fwd_in)
    h_new, saved = kernels.gru_step_fwd(*fwd_in, backend=case.backend)
    _assert_unchanged(before, fwd_in, "gru_step_fwd")

    want_h, want_saved = gru_ref.gru_step_fwd(r["gx"], r["h0"], r["W_h"], r["b_h"])
    assert_matches(h_new, want_h, case.dtype, "fwd", "h_new")
    assert isinstance(saved, tuple) and len(saved) == 2
    for name, got, want in zip(("rzn", "ghn"), saved, want_saved):
        assert_matches(got, want, case.dtype, "fwd", name)

    bwd_in = [c["dh"], c["h0"], c["W_h"], saved]
    before = _copies(bwd_in[:3] + list(saved))
    grads = kernels.gru_step_bwd(*bwd_in, backend=case.backend)
    _assert_unchanged(before, bwd_in[:3] + list(saved), "gru_step_bwd")
    want_saved64 = tuple(s.astype(np.float64) for s in saved)  # isolate the backward's error
    want = gru_ref.gru_step_bwd(r["dh"], r["h0"], r["W_h"], want_saved64)
    for name, got, w in zip(("dgx", "dh", "dW_h", "db_h"), grads, want):
        assert_matches(got, w, case.dtype, "grad", name)


def test_seq_matches_reference(case, gru_data, assert_matches):
    d = gru_data(case.B, case.H, case.T, dtype=case.dtype)
    c, r = d.cast, d.ref
    fwd_in = [c["gx"], c["h0"], c["W_h"], c["b_h"]]
    before = _copies(fwd_in)
    hs, saved = kernels.gru_seq_fwd(*fwd_in, backend=case.backend)
    _assert_unchanged(before, fwd_in, "gru_seq_fwd")

    want_hs, want_saved = gru_ref.gru_seq_fwd(r["gx"], r["h0"], r["W_h"], r["b_h"])
    assert_matches(hs, want_hs, case.dtype, "fwd", "hs")
    for name, got, want in zip(("RZN", "GHN"), saved, want_saved):
        assert_matches(got, want, case.dtype, "fwd", name)

    bwd_in = [c["dh"], c["h0"], hs, c["W_h"], saved]
    before = _copies(bwd_in[:4] + list(saved))
    grads = kernels.gru_seq_bwd(*bwd_in, backend=case.backend)
    _assert_unchanged(before, bwd_in[:4] + list(saved), "gru_seq_bwd")
    f64 = [a.astype(np.float64) for a in (hs, *saved)]
    want = gru_ref.gru_seq_bwd(r["dh"], r["h0"], f64[0], r["W_h"], tuple(f64[1:]))
    for name, got, w in zip(("dgx", "dh0", "dW_h", "db_h"), grads, want):
        assert_matches(got, w, case.dtype, "grad", name)

    # overwrite_saved: the same gradients, from memory the backend may take from saved
    mine = tuple(s.copy() for s in saved)
    again = kernels.gru_seq_bwd(*bwd_in[:4], mine, backend=case.backend, overwrite_saved=True)
    for name, got, w in zip(("dgx", "dh0", "dW_h", "db_h"), again, grads):
        np.testing.assert_array_equal(got, w, err_msg=f"{name} with overwrite_saved")
    if case.backend == "cpu":  # dgx is written over RZN: no (T, B, 3H) array more
        assert np.shares_memory(again[0], mine[0])

    # overwrite_gx: the same forward, the gates written over a copy of gx
    gx = c["gx"].copy()
    hs2, saved2 = kernels.gru_seq_fwd(gx, *fwd_in[1:], backend=case.backend, overwrite_gx=True)
    np.testing.assert_array_equal(hs2, hs)
    for got, want in zip(saved2, saved):
        np.testing.assert_array_equal(got, want)
    if case.backend == "cpu":
        assert np.shares_memory(saved2[0], gx)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_gates_stay_finite(backend, dtype, gru_data, assert_matches):
    # |pre-activations| up to ~300: exp must clamp, never overflow to inf/NaN.
    d = gru_data(5, 12, 3, dtype=dtype, scale=100.0)
    c, r = d.cast, d.ref
    hs, saved = kernels.gru_seq_fwd(c["gx"], c["h0"], c["W_h"], c["b_h"], backend=backend)
    grads = kernels.gru_seq_bwd(c["dh"], c["h0"], hs, c["W_h"], saved, backend=backend)
    for a in (hs, *saved, *grads):
        assert np.all(np.isfinite(a))
    want_hs, _ = gru_ref.gru_seq_fwd(r["gx"], r["h0"], r["W_h"], r["b_h"])
    assert_matches(hs, want_hs, np.dtype(dtype), "fwd", "hs")


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_non_contiguous_inputs(backend, gru_data):
    d = gru_data(4, 6, 3)
    c = d.cast
    gx_f = np.asfortranarray(c["gx"])
    W_f = np.asfortranarray(c["W_h"])
    h0_view = np.repeat(c["h0"], 2, axis=1)[:, ::2]  # strided view with the same values
    hs, _ = kernels.gru_seq_fwd(gx_f, h0_view, W_f, c["b_h"], backend=backend)
    want, _ = gru_ref.gru_seq_fwd(c["gx"], c["h0"], c["W_h"], c["b_h"])
    np.testing.assert_allclose(hs, want, rtol=1e-12, atol=1e-14)
    assert hs.flags.c_contiguous


def test_seq_equals_chained_steps(gru_data):
    # The CPU sequence kernel (buffers, ping-pong carries, deferred dW) = T calls of the step.
    d = gru_data(3, 7, 4)
    c = d.cast
    hs, saved = kernels.gru_seq_fwd(c["gx"], c["h0"], c["W_h"], c["b_h"])
    dgx, dh, dW, db = kernels.gru_seq_bwd(c["dh"], c["h0"], hs, c["W_h"], saved)
    h, states, step_saved = c["h0"], [c["h0"]], []
    for t in range(4):
        h, s = kernels.gru_step_fwd(c["gx"][t], h, c["W_h"], c["b_h"])
        states.append(h)
        step_saved.append(s)
    np.testing.assert_allclose(hs, np.stack(states[1:]), rtol=1e-13, atol=1e-15)
    carry, dW_sum, db_sum = np.zeros_like(c["h0"]), 0.0, 0.0
    for t in range(3, -1, -1):
        g = kernels.gru_step_bwd(c["dh"][t] + carry, states[t], c["W_h"], step_saved[t])
        np.testing.assert_allclose(dgx[t], g[0], rtol=1e-12, atol=1e-14)
        carry, dW_sum, db_sum = g[1], dW_sum + g[2], db_sum + g[3]
    np.testing.assert_allclose(dh, carry, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dW, dW_sum, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(db, db_sum, rtol=1e-12, atol=1e-13)
