"""Tests for the MRG31k3p generator: the recurrence against a plain transcription, the
jump-ahead matrices against their published values, substream splitting, and the NumPy and
Numba fills against each other."""

import numpy as np
import pytest

from minigraph.sandbox import mrg31k3p as mrg
from minigraph.sandbox.mrg31k3p import M1, M2

# A**(2**72) and A**(2**134) of both components, as published with the generator (and in
# Theano's rng_mrg): the matrices that split MRG31k3p into substreams and streams
PUBLISHED = {
    72: ([[1516919229, 758510237, 499121365], [1884998244, 1516919229, 335398200],
          [601897748, 1884998244, 358115744]],
         [[1228857673, 1496414766, 954677935], [1133297478, 1407477216, 1496414766],
          [2002613992, 1639496704, 1407477216]]),
    134: ([[1702500920, 1849582496, 1656874625], [828554832, 1702500920, 1512419905],
           [1143731069, 828554832, 102237247]],
          [[796789021, 1464208080, 607337906], [1241679051, 1431130166, 1464208080],
           [1401213391, 1178684362, 1431130166]]),
}


def _naive(state, n):
    """The recurrence in Python ints, one step at a time: ``(new state, z values)``."""
    x1, x2 = [int(v) for v in state[:3]], [int(v) for v in state[3:]]
    zs = []
    for _ in range(n):
        y1 = (2**22 * x1[1] + (2**7 + 1) * x1[2]) % M1
        y2 = (2**15 * x2[0] + (2**15 + 1) * x2[2]) % M2
        x1, x2 = [y1, x1[0], x1[1]], [y2, x2[0], x2[1]]
        zs.append((y1 - y2) % M1 or M1)  # z in [1, M1]
    return x1 + x2, zs


def _random_state(rng):
    return np.concatenate([rng.integers(1, M1, 3), rng.integers(1, M2, 3)])


@pytest.mark.parametrize("log2_steps", sorted(PUBLISHED))
def test_jump_matrices_match_the_published_values(log2_steps):
    j1, j2 = mrg.jump_matrices(log2_steps)
    np.testing.assert_array_equal(j1, PUBLISHED[log2_steps][0])
    np.testing.assert_array_equal(j2, PUBLISHED[log2_steps][1])


def test_a_jump_equals_as_many_single_steps(rng):
    state = _random_state(rng)
    k = int(rng.integers(500, 1500))
    jumps = (mrg.matpow_mod(mrg.A1, k, M1), mrg.matpow_mod(mrg.A2, k, M2))
    np.testing.assert_array_equal(mrg.apply_jump(jumps, state), _naive(state, k)[0])
    one = (mrg.A1, mrg.A2)
    np.testing.assert_array_equal(mrg.apply_jump(one, state), _naive(state, 1)[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_streams,n", [(1, 7), (3, 10), (4, 4), (5, 3), (6, 0)])
def test_fills_match_the_recurrence_stream_by_stream(rng, dtype, n_streams, n):
    states = np.stack([_random_state(rng) for _ in range(n_streams)]).astype(np.int32)
    before = states.copy()
    for fill in (mrg.fill_numpy, mrg.fill):
        new, out = fill(states, n, dtype)
        np.testing.assert_array_equal(states, before)  # the input state is left as it was
        assert out.dtype == dtype and out.shape == (n,) and new.dtype == np.int32
        for s in range(n_streams):  # sample i comes from stream i % n_streams
            mine = np.arange(s, n, n_streams)
            state, zs = _naive(states[s], len(mine))
            np.testing.assert_array_equal(new[s], state)
            norm = mrg.NORM32 if dtype == "float32" else mrg.NORM64
            expect = np.array(zs, dtype=np.int64).astype(dtype) * norm
            np.testing.assert_array_equal(out[mine], expect.astype(dtype))


def test_samples_stay_inside_the_open_interval():
    # a state whose next z is M1, the largest value: y1 = y2 = 129
    x23 = 129 * pow(2**15 + 1, -1, M2) % M2
    state = np.array([0, 0, 1, 0, 0, x23], dtype=np.int32)
    assert _naive(state, 1)[1] == [M1]
    for dtype in ("float32", "float64"):
        for fill in (mrg.fill_numpy, mrg.fill):
            top = fill(state[None], 1, dtype)[1][0]
            assert 0.999999 < top < 1.0
    smallest = np.float32(1) * mrg.NORM32
    assert 0 < smallest and np.float64(1) * mrg.NORM64 > 0


def test_substreams_are_jumps_of_the_first_row(rng):
    state = _random_state(rng)
    rows = mrg.substreams(state, 9)
    assert rows.shape == (9, 6) and rows.dtype == np.int32
    expect = state.astype(np.int64)
    for row in rows:
        np.testing.assert_array_equal(row, expect)
        expect = mrg.apply_jump(mrg.jump_matrices(72), expect)
    for n in (1, 2, 3, 8):  # doubling gives a prefix of the same rows
        np.testing.assert_array_equal(mrg.substreams(state, n), rows[:n])
    with pytest.raises(ValueError, match="at least one stream"):
        mrg.substreams(state, 0)


def test_check_seed_state():
    mrg.check_seed_state([1, 2, 3, 4, 5, 6])
    for bad, match in [([1, 2, 3], "6 ints"), ([0, 0, 0, 1, 1, 1], "all be 0"),
                       ([1, 1, 1, 0, 0, 0], "all be 0"), ([M1, 1, 1, 1, 1, 1], "< 2147483647"),
                       ([1, 1, 1, 1, 1, M2], "< 2147483647"), ([-1, 1, 1, 1, 1, 1], "negative")]:
        with pytest.raises(ValueError, match=match):
            mrg.check_seed_state(bad)
