"""The MRG31k3p generator: its recurrence, jump-ahead matrices, and a fill of many streams.

MRG31k3p (L'Ecuyer and Touzin, 2000) combines two multiple-recursive generators of order 3::

    x1[n] = (2**22 * x1[n-2] + (2**7 + 1)  * x1[n-3]) mod M1      M1 = 2**31 - 1
    x2[n] = (2**15 * x2[n-1] + (2**15 + 1) * x2[n-3]) mod M2      M2 = 2**31 - 21069
    z[n]  = (x1[n] - x2[n]) mod M1, taken in [1, M1]

A state is six ints ``(x1[n], x1[n-1], x1[n-2], x2[n], x2[n-1], x2[n-2])``. Each component
is linear, ``s' = A s mod m``, so jumping ``k`` steps ahead is one matrix-vector product
with ``A**k mod m``; the powers ``2**72`` (substreams) and ``2**134`` (streams) are built by
squaring. ``MRG_RandomStreams`` (:mod:`.rng_mrg`) gives each draw its own stream and splits it
into substreams, one row of the state matrix each, as L'Ecuyer, Simard, Chen and Kelton's
streams package (Operations Research 50(6), 2002) does.

All arithmetic is exact in int64: entries are below 2**31, so a product is below 2**62 and
the sum of three reduced products below 2**33.

Two implementations of the fill produce bit-identical samples: ``fill_numpy`` (the
reference, vectorised over streams) and a Numba loop (``fill``, what compiled functions run).
"""

import functools

import numpy as np

M1 = 2147483647  # 2**31 - 1
M2 = 2147462579  # 2**31 - 21069

#: one step of each component, acting on (newest, middle, oldest)
A1 = np.array([[0, 2**22, 2**7 + 1], [1, 0, 0], [0, 1, 0]], dtype=np.int64)
A2 = np.array([[2**15, 0, 2**15 + 1], [1, 0, 0], [0, 1, 0]], dtype=np.int64)

#: z -> (0, 1): z * 2**-31 is exact in float64; the float32 factor is the largest float32
#: below 2**-31, so z = M1 (which rounds to 2**31 in float32) still maps below 1
NORM64 = np.float64(2.0**-31)
NORM32 = np.nextafter(np.float32(2.0**-31), np.float32(0))


def matmul_mod(a, b, m):
    """``a @ b mod m`` for int64 arrays with entries in ``[0, m)`` (``b``: matrix or rows).

    Each product is reduced before the sum, so nothing overflows int64.
    """
    return np.sum((a[..., :, :, None] * b[..., None, :, :]) % m, axis=-2) % m


def matpow_mod(a, k, m):
    """``a**k mod m`` for a square int64 matrix and an int ``k >= 0`` (square and multiply)."""
    result = np.eye(len(a), dtype=np.int64)
    base = np.asarray(a, dtype=np.int64) % m
    while k:
        if k & 1:
            result = matmul_mod(result, base, m)
        base = matmul_mod(base, base, m)
        k >>= 1
    return result


@functools.lru_cache(maxsize=None)
def jump_matrices(log2_steps):
    """``(A1**2**e mod M1, A2**2**e mod M2)`` for ``e = log2_steps`` (read-only)."""
    out = []
    for a, m in ((A1, M1), (A2, M2)):
        p = a.copy()
        for _ in range(log2_steps):
            p = matmul_mod(p, p, m)
        p.setflags(write=False)
        out.append(p)
    return tuple(out)


def apply_jump(jumps, states):
    """Apply ``(J1, J2)`` to state rows ``(..., 6)``: each component jumps ahead."""
    states = np.asarray(states, dtype=np.int64)
    j1, j2 = jumps
    x1 = np.sum((states[..., None, 0:3] * j1) % M1, axis=-1) % M1
    x2 = np.sum((states[..., None, 3:6] * j2) % M2, axis=-1) % M2
    return np.concatenate([x1, x2], axis=-1)


def substreams(state, n, log2_spacing=72):
    """``n`` state rows (int32), row ``i`` being ``state`` advanced ``i * 2**log2_spacing``.

    Built by doubling: rows ``[k, 2k)`` are rows ``[0, k)`` jumped ``k`` substreams ahead,
    so ``n`` rows take ``log2(n)`` vectorised steps.
    """
    if n < 1:
        raise ValueError(f"need at least one stream, got {n}")
    rows = np.empty((n, 6), dtype=np.int64)
    rows[0] = state
    done, jump = 1, jump_matrices(log2_spacing)
    while done < n:
        k = min(done, n - done)
        rows[done:done + k] = apply_jump(jump, rows[:k])
        jump = tuple(matmul_mod(j, j, m) for j, m in zip(jump, (M1, M2)))
        done += k
    return rows.astype(np.int32)


def check_seed_state(state):
    """Raise ValueError unless ``state`` is a valid 6-int MRG31k3p state."""
    state = np.asarray(state)
    if state.shape != (6,):
        raise ValueError(f"an MRG31k3p state has 6 ints, got shape {state.shape}")
    first, second = [int(v) for v in state[:3]], [int(v) for v in state[3:]]
    if min(first + second) < 0:
        raise ValueError(f"MRG31k3p state values must be non-negative, got {state.tolist()}")
    if max(first) >= M1 or max(second) >= M2:
        raise ValueError(f"MRG31k3p state: the first 3 values must be < {M1} and the last 3 "
                         f"< {M2}, got {state.tolist()}")
    if not any(first) or not any(second):
        raise ValueError(f"MRG31k3p state: the first 3 values and the last 3 values must not "
                         f"all be 0, got {state.tolist()}")


def _norm(dtype):
    return NORM32 if np.dtype(dtype) == np.float32 else NORM64


def fill_numpy(state, n, dtype):
    """Reference: ``(new state, n samples in (0, 1))`` from state rows ``(s, 6)``.

    Sample ``i`` comes from stream ``i % s``; each stream advances once per sample it gives,
    so one round advances the first ``min(s, samples left)`` streams together.
    """
    x = np.array(state, dtype=np.int64)  # a copy: the input state is left as it was
    out = np.empty(n, dtype=dtype)
    s, norm = len(x), _norm(dtype)
    for start in range(0, n, s):
        a = min(s, n - start)
        y1 = (2**22 * x[:a, 1] + (2**7 + 1) * x[:a, 2]) % M1
        y2 = (2**15 * x[:a, 3] + (2**15 + 1) * x[:a, 5]) % M2
        x[:a, 1:3], x[:a, 0] = x[:a, 0:2].copy(), y1
        x[:a, 4:6], x[:a, 3] = x[:a, 3:5].copy(), y2
        z = np.where(y1 <= y2, y1 - y2 + M1, y1 - y2)
        out[start:start + a] = z.astype(dtype) * norm
    return x.astype(np.int32), out


@functools.lru_cache(maxsize=None)
def _numba_fill(dtype):
    import numba

    cast = np.float32 if dtype == "float32" else np.float64  # a compile-time constant

    @numba.njit(cache=True, nogil=True)
    def fill(x, out, norm):
        n, s = out.shape[0], x.shape[0]
        for k in range(min(s, n)):
            x11, x12, x13 = np.int64(x[k, 0]), np.int64(x[k, 1]), np.int64(x[k, 2])
            x21, x22, x23 = np.int64(x[k, 3]), np.int64(x[k, 4]), np.int64(x[k, 5])
            for i in range(k, n, s):
                y1 = (4194304 * x12 + 129 * x13) % 2147483647
                y2 = (32768 * x21 + 32769 * x23) % 2147462579
                x13, x12, x11 = x12, x11, y1
                x23, x22, x21 = x22, x21, y2
                z = y1 - y2 + 2147483647 if y1 <= y2 else y1 - y2
                out[i] = cast(z) * norm  # in the sample's precision, as fill_numpy
            x[k, 0], x[k, 1], x[k, 2] = x11, x12, x13
            x[k, 3], x[k, 4], x[k, 5] = x21, x22, x23

    return fill


def fill(state, n, dtype):
    """``fill_numpy``'s result, computed by a compiled loop (one stream at a time)."""
    x = np.array(state, dtype=np.int32)
    out = np.empty(n, dtype=dtype)
    _numba_fill(np.dtype(dtype).name)(x, out, _norm(dtype))
    return x, out
