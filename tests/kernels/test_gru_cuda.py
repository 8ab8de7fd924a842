"""CUDA backend specifics: tile shapes, persistent vs per-step sequences, launch options.

``test_gru_backends`` already runs the CUDA backend with its default tiles; here the same
kernels run with other tile shapes (register blocking RB=2, ragged tiles) and both sequence
modes.  In the simulator the persistent kernel runs with one block (its grid sync is only
correct for one); on a real GPU with as many blocks as can be co-resident.
"""

import numpy as np
import pytest

import kernels
from kernels import gru_ref

pytestmark = [
    pytest.mark.cudasim,
    pytest.mark.skipif(kernels.cuda_available() is None, reason="CUDA off: no GPU, no simulator"),
]

# (tiles, B, H, T): tiles that divide nothing, RB=2 with a ragged last row group, TK > H.
CONFIGS = [
    ((2, 4, 4, 1), 3, 10, 2),
    ((4, 4, 4, 2), 3, 10, 2),
    ((4, 8, 16, 2), 4, 6, 3),
]


def _tiles(t):
    from kernels.gru_cuda import Tiles

    return Tiles(*t)


@pytest.mark.parametrize("seq_mode", ["persistent", "per_step"])
@pytest.mark.parametrize("tiles,B,H,T", CONFIGS)
def test_sequence_modes_and_tiles(tiles, B, H, T, seq_mode, gru_data, assert_matches):
    from kernels import gru_cuda

    d = gru_data(B, H, T, dtype=np.float32)
    c, r = d.cast, d.ref
    opts = dict(tiles=_tiles(tiles), seq_mode=seq_mode)
    hs, saved = gru_cuda.gru_seq_fwd(c["gx"], c["h0"], c["W_h"], c["b_h"], **opts)
    want_hs, want_saved = gru_ref.gru_seq_fwd(r["gx"], r["h0"], r["W_h"], r["b_h"])
    assert_matches(hs, want_hs, np.dtype(np.float32), "fwd", "hs")
    for name, got, want in zip(("R", "Z", "N", "GHN"), saved, want_saved):
        assert_matches(got, want, np.dtype(np.float32), "fwd", name)
    grads = gru_cuda.gru_seq_bwd(c["dh"], c["h0"], hs, c["W_h"], saved, **opts)
    f64 = [a.astype(np.float64) for a in (hs, *saved)]
    want = gru_ref.gru_seq_bwd(r["dh"], r["h0"], f64[0], r["W_h"], tuple(f64[1:]))
    for name, got, w in zip(("dgx", "dh0", "dW_h", "db_h"), grads, want):
        assert_matches(got, w, np.dtype(np.float32), "grad", name)


def test_step_with_register_blocking(gru_data, assert_matches):
    from kernels import gru_cuda

    d = gru_data(3, 10, dtype=np.float32)
    c, r = d.cast, d.ref
    tiles = _tiles((4, 4, 4, 2))
    h_new, saved = gru_cuda.gru_step_fwd(c["gx"], c["h0"], c["W_h"], c["b_h"], tiles=tiles)
    want_h, _ = gru_ref.gru_step_fwd(r["gx"], r["h0"], r["W_h"], r["b_h"])
    assert_matches(h_new, want_h, np.dtype(np.float32), "fwd", "h_new")
    grads = gru_cuda.gru_step_bwd(c["dh"], c["h0"], c["W_h"], saved, tiles=tiles)
    want = gru_ref.gru_step_bwd(
        r["dh"], r["h0"], r["W_h"], tuple(s.astype(np.float64) for s in saved)
    )
    for name, got, w in zip(("dgx", "dh", "dW_h", "db_h"), grads, want):
        assert_matches(got, w, np.dtype(np.float32), "grad", name)


def test_bad_options():
    from kernels import gru_cuda

    z = np.zeros
    with pytest.raises(ValueError, match="seq_mode"):
        gru_cuda.gru_seq_fwd(z((1, 1, 3)), z((1, 1)), z((1, 3)), z(3), seq_mode="fast")
    with pytest.raises(ValueError, match="multiple of RB"):
        gru_cuda.gru_step_fwd(z((1, 3)), z((1, 1)), z((1, 3)), z(3), tiles=_tiles((3, 4, 4, 2)))


def test_tiles_over_the_shared_memory_limit_are_refused():
    from kernels._cuda_tiles import build

    with pytest.raises(ValueError, match="shared memory"):
        build(np.float64, _tiles((32, 32, 32, 4)))  # 49 KB: over Numba's static 48 KB


def test_default_tiles_are_tiny_in_the_simulator():
    from kernels import gru_cuda

    if not gru_cuda.SIMULATOR:
        pytest.skip("real GPU")
    tiles = gru_cuda.default_tiles(200)
    assert tiles.TJ * (tiles.TB // tiles.RB) <= 64  # threads per simulated block
