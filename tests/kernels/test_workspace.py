"""The workspace that lends the whole-sequence CPU kernels and the fused kernels their big
arrays."""

import numpy as np

from kernels import gru_cpu, gru_ref
from kernels.workspace import Workspace


def _block(a):
    while a.base is not None:  # down to the kept uint8 block the array views
        a = a.base
    return a


def test_memory_in_use_is_never_handed_out_again():
    ws = Workspace(min_bytes=0)
    a = ws.empty((4, 5), np.float32)
    view = a[1:]
    del a
    b = ws.empty((4, 5), np.float32)
    assert not np.shares_memory(b, view)  # the view still holds the first block
    blocks = {id(_block(view)), id(_block(b))}  # ids only: a reference would keep them busy
    del view, b
    c, d = ws.empty((4, 5), np.float32), ws.empty((20,), np.int32)
    assert {id(_block(c)), id(_block(d))} == blocks  # both reused
    assert ws.nbytes() == 2 * 80


def test_a_free_block_serves_other_shapes_and_dtypes_of_up_to_its_size():
    ws = Workspace(min_bytes=0)
    big = ws.empty((100,), np.float64)
    block = id(_block(big))
    del big
    assert id(_block(ws.empty((10, 10), np.float32))) == block  # 400 of 800 bytes: reused
    small = ws.empty((10,), np.float64)  # 80 bytes: the block would be > 2x too big
    assert id(_block(small)) != block and small.shape == (10,)
    assert ws.empty((5,), np.float64).dtype == np.float64


def test_best_fit_and_small_arrays_are_not_kept():
    ws = Workspace(min_bytes=0)
    a, b = ws.empty((300,), np.uint8), ws.empty((200,), np.uint8)
    small_block = id(_block(b))
    del a, b
    assert id(_block(ws.empty((150,), np.uint8))) == small_block  # the tighter one fits
    ws2 = Workspace(min_bytes=1000)
    x = ws2.empty((10,), np.float32)
    assert x.base is None and ws2.nbytes() == 0


def test_max_blocks_bounds_what_the_workspace_holds():
    ws = Workspace(min_bytes=0, max_blocks=2)
    held = [ws.empty((10,), np.float32) for _ in range(5)]
    assert len({id(_block(a)) for a in held}) == 5 and ws.nbytes() == 2 * 40
    ws.clear()
    assert ws.nbytes() == 0


def test_sequence_results_held_by_the_caller_stay_intact(rng):
    T, B, H = 4, 3, 5
    gx = rng.standard_normal((T, B, 3 * H)).astype(np.float32)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    W = (rng.standard_normal((H, 3 * H)) / np.sqrt(H)).astype(np.float32)
    b = rng.standard_normal(3 * H).astype(np.float32)
    saved_min = gru_cpu.WORKSPACE.min_bytes
    gru_cpu.WORKSPACE.min_bytes = 0  # these tiny arrays go through the workspace too
    try:
        hs1, saved1 = gru_cpu.gru_seq_fwd(gx, h0, W, b)
        keep = [a.copy() for a in (hs1, *saved1)]
        hs2, saved2 = gru_cpu.gru_seq_fwd(2 * gx, h0, W, b)  # while the first are held
        for x in (hs1, *saved1):
            assert not any(np.shares_memory(x, y) for y in (hs2, *saved2))
        for held, copy in zip((hs1, *saved1), keep):
            np.testing.assert_array_equal(held, copy)
        ref_hs, _ = gru_ref.gru_seq_fwd(2 * gx.astype(np.float64), h0, W, b)
        np.testing.assert_allclose(hs2, ref_hs, rtol=1e-4, atol=1e-5)
        del hs1, saved1, hs2, saved2, held
        hs3, _ = gru_cpu.gru_seq_fwd(gx, h0, W, b)  # from reused blocks: the same values
        np.testing.assert_array_equal(hs3, keep[0])
    finally:
        gru_cpu.WORKSPACE.min_bytes = saved_min
