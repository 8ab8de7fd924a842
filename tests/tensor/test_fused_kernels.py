"""The generated loops of minigraph/tensor/fused_kernels.py: the two-stream loop of programs
calling vecmath (every size, in place and not, its source), and the casts it leaves out."""

import platform
import re

import numba
import numpy as np
import pytest

from minigraph.tensor import fused_kernels as fk
from minigraph.tensor.fusion import Program, _composite
from minigraph.tensor.scalar import SCALAR_OPS as S


def _chain(dtype):
    """tanh(x * s + y) * sigmoid(x) + exp(y * s), s a scalar: two outputs (it and tanh)."""
    full, one = (dtype, (False,)), (dtype, (True,))
    steps = [(S["mul"], (0, 2), dtype), (S["add"], (3, 1), dtype), (S["tanh"], (4,), dtype),
             (S["sigmoid"], (0,), dtype), (S["mul"], (5, 6), dtype),
             (S["mul"], (1, 2), dtype), (S["exp"], (8,), dtype), (S["add"], (7, 9), dtype)]
    return Program([full, full, one], steps, [10, 5])


def _jit(source):
    """The loops of ``source`` compiled here (not from the disk cache: inspectable)."""
    module = {}
    exec(compile(source, "<fused kernel>", "exec"), module)
    return numba.njit(error_model="numpy", nogil=True)(module["flat"])


def test_vecmath_programs_get_two_streams_and_others_one():
    src = fk.kernel_source(_chain("float32"), 1)
    assert "m = o0.shape[0] // 2" in src and "j = i + m" in src
    assert "t2 = _vm32_tanh(t1)" in src and "t2_1 = _vm32_tanh(t1_1)" in src
    assert "o0[j] = t7_1" in src and "o1[j] = t2_1" in src  # both outputs of stream two
    assert "for i in range(2 * m, o0.shape[0]):" in src  # the odd last element
    # names are defined once each in flat (Numba's SSA pass is slow on redefined names)
    assigned = re.findall(r"^\s+(\w+) = ", src.split("def nd(")[0], re.M)
    assert len(assigned) == len(set(assigned))
    full = ("float32", (False,))
    plain = Program([full, full], [(S["mul"], (0, 1), "float32"), (S["add"], (2, 0), "float32")],
                    [3])
    src = fk.kernel_source(plain, 1)
    assert "j = i + m" not in src and "for i in range(o0.shape[0]):" in src


def test_float_closed_steps_are_not_cast():
    src = fk.kernel_source(_chain("float32"), 1)
    assert "t0 = (v0 * v2)" in src and "np.float32(" not in src
    ints = ("int32", (False,))
    prog = Program([ints, ints], [(S["add"], (0, 1), "int32"), (S["mul"], (2, 0), "int32")],
                   [3])
    src = fk.kernel_source(prog, 1)  # int32 + int32 is int64 in Numba: cast back
    assert "t0 = np.int32((v0 + v1))" in src


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_stream_loop_equals_the_composite_at_every_size(rng, dtype):
    prog = _chain(dtype)
    flat, flat_ip = _jit(fk.kernel_source(prog, 1)), _jit(fk.kernel_source(prog, 1, 1))
    s = np.asarray(0.7, dtype)[()]
    tol = 4e-6 if dtype == "float32" else 1e-14
    for n in (0, 1, 2, 3, 16, 17, 33, 100):
        x, y = (rng.uniform(-4, 4, n).astype(dtype) for _ in range(2))
        want, tanh = _composite(prog, [x, y, np.asarray(s)])
        out, o1 = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
        flat(x, y, s, out, o1)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
        np.testing.assert_allclose(o1, tanh, rtol=tol, atol=tol)
        y_ip, o1_ip = y.copy(), np.full(n, np.nan, dtype)
        flat_ip(x, y_ip, s, o1_ip)  # output 0 into y: each stream reads before it writes
        np.testing.assert_array_equal(y_ip, out)
        np.testing.assert_array_equal(o1_ip, o1)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 mnemonics")
def test_both_streams_vectorise_in_place_too():
    for inplace in (None, 0):
        flat = _jit(fk.kernel_source(_chain("float32"), 1, inplace))
        x, y = np.linspace(-3, 3, 40, dtype=np.float32), np.ones(40, np.float32)
        outs = [np.empty(40, np.float32)] * (1 if inplace is None else 0)
        flat(x, y, np.float32(0.5), *outs, np.empty(40, np.float32))
        asm = flat.inspect_asm(flat.signatures[0])
        assert re.search(r"\bv?divps\b", asm)  # packed divisions: vectorised (scalar: divss)
        # inlined: no call of (or address taken of) a vecmath function, only its environment
        called = [ln for ln in asm.splitlines() if re.search(r"\d(tanh|exp|sigmoid)B", ln)]
        assert all("NumbaEnv" in ln for ln in called)
