"""``kernels.blas_threads``: the batch split, the threads it runs on, OpenBLAS's count."""

import itertools
import threading

import numba
import numpy as np
import pytest

from kernels import blas_threads


@pytest.mark.parametrize("n_items, n_parts", [(10, 3), (5, 2), (2, 4), (1, 1), (7, 7)])
def test_parts_cover_the_range_once_in_order(n_items, n_parts):
    got = blas_threads.run_parts(lambda part, lo, hi: (part, lo, hi), n_items, n_parts)
    assert [p for p, _, _ in got] == list(range(min(n_parts, n_items)))
    assert got[0][1] == 0 and got[-1][2] == n_items
    assert all(a[2] == b[1] for a, b in itertools.pairwise(got))  # contiguous, disjoint
    sizes = [hi - lo for _, lo, hi in got]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_parts_run_on_distinct_threads_with_one_numba_thread_each():
    barrier = threading.Barrier(3, timeout=30)  # all three parts at once, or this times out

    def body(part, lo, hi):
        barrier.wait()
        return threading.get_ident(), numba.get_num_threads()

    before = numba.get_num_threads()
    got = blas_threads.run_parts(body, 3, 3)
    assert len({ident for ident, _ in got}) == 3
    assert all(n == 1 for _, n in got)
    assert got[0][0] == threading.get_ident()  # part 0 on the caller
    assert numba.get_num_threads() == before


def test_a_failing_part_raises_after_every_part_finished():
    done = []

    def body(part, lo, hi):
        if part == 1:
            raise ValueError("part 1 failed")
        done.append(part)

    with pytest.raises(ValueError, match="part 1 failed"):
        blas_threads.run_parts(body, 4, 4)
    assert sorted(done) == [0, 2, 3]


def test_blas_threads_sets_and_restores_the_count():
    if not blas_threads.available():
        pytest.skip("OpenBLAS's thread count cannot be set here")
    get = blas_threads._CONTROLS[1]
    before = get()
    with blas_threads.blas_threads(1):
        assert get() == 1
        a = np.arange(12.0).reshape(3, 4)
        np.testing.assert_allclose(a @ a.T, np.einsum("ij,kj->ik", a, a))
    assert get() == before
