"""The workspace that lends the whole-sequence CPU kernels their big arrays."""

import numpy as np

from kernels import gru_cpu, gru_ref
from kernels._workspace import Workspace


def test_an_array_in_use_is_never_handed_out_again():
    ws = Workspace()
    a = ws.empty((4, 5), np.float32)
    view = a[1:]
    del a
    b = ws.empty((4, 5), np.float32)
    assert b is not view.base  # the view still holds the first array
    del view, b
    c = ws.empty((4, 5), np.float32)
    d = ws.empty((4, 5), np.float32)
    assert c is not d and ws.nbytes() == 2 * 4 * 5 * 4


def test_free_arrays_are_reused_by_shape_and_dtype():
    ws = Workspace()
    first = ws.empty((3,), np.float64)
    ident = id(first)
    del first
    assert id(ws.empty((3,), np.float64)) == ident
    assert ws.empty((3,), np.float32).dtype == np.float32  # another key: a new array
    assert ws.empty((2, 3), np.float64).shape == (2, 3)


def test_keep_bounds_what_the_workspace_holds():
    ws = Workspace(keep=2)
    held = [ws.empty((10,), np.float32) for _ in range(5)]
    assert len({id(a) for a in held}) == 5 and ws.nbytes() == 2 * 40
    ws.clear()
    assert ws.nbytes() == 0


def test_sequence_results_held_by_the_caller_stay_intact(rng):
    T, B, H = 4, 3, 5
    gx = rng.standard_normal((T, B, 3 * H)).astype(np.float32)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    W = (rng.standard_normal((H, 3 * H)) / np.sqrt(H)).astype(np.float32)
    b = rng.standard_normal(3 * H).astype(np.float32)
    hs1, saved1 = gru_cpu.gru_seq_fwd(gx, h0, W, b)
    keep = [a.copy() for a in (hs1, *saved1)]
    hs2, saved2 = gru_cpu.gru_seq_fwd(2 * gx, h0, W, b)  # while the first results are held
    assert all(x is not y for x in (hs1, *saved1) for y in (hs2, *saved2))
    for held, copy in zip((hs1, *saved1), keep):
        np.testing.assert_array_equal(held, copy)
    ref_hs, _ = gru_ref.gru_seq_fwd(2 * gx.astype(np.float64), h0, W, b)
    np.testing.assert_allclose(hs2, ref_hs, rtol=1e-4, atol=1e-5)
    del hs1, saved1, hs2, saved2, held
    hs3, _ = gru_cpu.gru_seq_fwd(gx, h0, W, b)  # now from reused arrays: same values
    np.testing.assert_allclose(hs3, keep[0], rtol=0, atol=0)
