"""Elementwise fusion: a 30-op expression on a 1,000,000-element float32 array.

Compares, in one run (ratios against plain NumPy):

* ``numpy``: the expression written with NumPy, one temporary per op (the baseline);
* ``unfused``: minigraph with ``mode.excluding("fusion")`` (one NumPy call per node);
* ``fused, NumPy composite``: the fused node before it is compiled (``POLICY.numba = False``);
* ``fused, Numba``: the fused node's compiled loop, with in-place and buffer reuse, and
  without them (``excluding("inplace", "reuse_buffers")``).

Then compile costs: ``function()`` itself, and the first call of a fresh process with an empty
kernel cache vs a warm one (subprocesses with a temporary ``MINIGRAPH_CACHE_DIR``).
Threads are pinned to 1 (OpenBLAS and Numba); the machine is shared, so each timing is the
median of ``--repeat`` calls. Run: ``python3 benchmarks/elemwise_fusion.py [--repeat 30]``.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads OpenBLAS
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402
from minigraph.tensor import fusion  # noqa: E402


def expression(M, x, y):
    """30 elementwise ops, written once for NumPy and for minigraph."""
    a = x * 0.5 + y * 0.25                      # 3
    b = M.sqrt(abs(a) + 1.0)                    # 3
    c = (a - b) / (b + 2.0)                     # 3
    d = M.maximum(c, -0.5) * M.minimum(y, 0.5)  # 3
    e = M.exp(-abs(d))                          # 3
    s = 1.0 / (1.0 + M.exp(-(a - d)))           # 5: a sigmoid written out
    g = d * e + s * (1.0 - e)                   # 5
    h = (g * g - 0.5 * g + 0.125) * 2.0 - 1.0   # 7
    return h                                    # 30 ops in all


class _NumpyMath:
    sqrt, exp, maximum, minimum = np.sqrt, np.exp, np.maximum, np.minimum


class _GraphMath:
    sqrt, exp, maximum, minimum = T.sqrt, T.exp, T.maximum, T.minimum


def _median(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _compile(mode):
    x, y = T.fvector("x"), T.fvector("y")
    t0 = time.perf_counter()
    f = theano.function([x, y], expression(_GraphMath, x, y), mode=mode)
    return f, time.perf_counter() - t0


def speed_table(n, repeat):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal(n).astype(np.float32)
    yv = rng.standard_normal(n).astype(np.float32)
    want = expression(_NumpyMath, xv, yv)
    assert want.dtype == np.float32
    rows = [("numpy (unfused, reference)", _median(lambda: expression(_NumpyMath, xv, yv),
                                                   repeat), 0.0)]
    mode = theano.Mode()
    cases = [("minigraph unfused", mode.excluding("fusion"), False),
             ("fused, NumPy composite", mode, False),
             ("fused, Numba, no inplace/reuse", mode.excluding("inplace", "reuse_buffers"),
              True),
             ("fused, Numba, inplace + reuse", mode, True)]
    for name, m, use_numba in cases:
        fusion.POLICY.numba, fusion.POLICY.compile_after = use_numba, 0
        f, t_compile = _compile(m)
        np.testing.assert_allclose(f(xv, yv), want, rtol=2e-6, atol=2e-6)  # also compiles
        rows.append((name, _median(lambda: f(xv, yv), repeat), t_compile))
    base, unfused = rows[0][1], rows[1][1]
    print(f"\n30-op expression, {n:,} float32 elements, median of {repeat} "
          f"(OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']})")
    print(f"| {'variant':34} | {'ms/call':>8} | {'vs numpy':>8} | {'vs unfused':>10} | "
          f"{'function() ms':>13} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 12}|{'-' * 15}|")
    for name, t, tc in rows:
        print(f"| {name:34} | {t * 1e3:8.2f} | {base / t:7.2f}x | {unfused / t:9.2f}x | "
              f"{tc * 1e3:13.1f} |")


_CHILD = """
import time, numpy as np
t0 = time.perf_counter()
import minigraph as theano, minigraph.tensor as T
from minigraph.tensor import fusion
from benchmarks.elemwise_fusion import expression, _GraphMath
fusion.POLICY.compile_after = 0
x, y = T.fvector("x"), T.fvector("y")
t1 = time.perf_counter()
f = theano.function([x, y], expression(_GraphMath, x, y))
t2 = time.perf_counter()
import numba
t3 = time.perf_counter()
f(np.ones(1000, np.float32), np.ones(1000, np.float32))
t4 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f} {t4 - t3:.3f} "
      f"{fusion.kernel_cache_info()['disk_hits']}")
"""


def compile_table():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print("\nFresh process (Numba forced: compile_after=0). import: NumPy + minigraph; "
          "first call: Numba's start-up + compiling or loading the kernel")
    print(f"| {'kernel cache':12} | {'import s':>8} | {'function() s':>12} | "
          f"{'import numba s':>14} | {'first call s':>12} | {'disk hits':>9} |")
    print(f"|{'-' * 14}|{'-' * 10}|{'-' * 14}|{'-' * 16}|{'-' * 14}|{'-' * 11}|")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, MINIGRAPH_CACHE_DIR=cache, PYTHONPATH=root)
        for label in ("empty", "warm"):
            out = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=root,
                                 capture_output=True, text=True, check=True).stdout.split()
            t = [float(v) for v in out[:4]]
            print(f"| {label:12} | {t[0]:8.3f} | {t[1]:12.3f} | {t[2]:14.3f} | {t[3]:12.3f} | "
                  f"{out[4]:>9} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=30)
    args = p.parse_args()
    speed_table(args.n, args.repeat)
    compile_table()


if __name__ == "__main__":
    main()
