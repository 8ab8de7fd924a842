"""How the layout of a GEMM's operands changes its time, with NumPy's own OpenBLAS.

Two choices of minigraph rest on these numbers:

* the loop compiler multiplies by a copy of ``W.T`` made once before a loop instead of by
  ``W`` with a transpose flag (``minigraph/codegen/templates.py``, ``_transposed_once``;
  ``docs/codegen.md``, "Values are views");
* ``Dot`` hands an operand that is a column slice of a wider array (a layer's half of the
  LSTM's ``[h, c]`` state trace) to ``numpy.matmul``, which passes BLAS its row stride,
  where ``numpy.dot`` copies it or runs a loop of its own (``minigraph/tensor/blas.py``,
  ``pooled_dot``).

Each row times both candidates alternately in one process, float32, OpenBLAS pinned to
the thread count shown, and prints the minimum and the median of the repeats::

    python3 benchmarks/gemm_layouts.py [--threads 1,2] [--repeats 41]
"""

import argparse
import os
import subprocess
import sys
import time

# (label, rows, inner, cols): the char-RNN's recurrent gradient products (small and Gorner)
TRANSPOSE_SHAPES = [("LSTM small, gradient step", 64, 1024, 256),
                    ("LSTM Gorner, gradient step", 200, 2048, 512)]
# (label, rows, width of the slice, width of the array, cols): weight gradients over a run
SLICE_SHAPES = [("Gorner X.T @ gates", 6000, 512, 1024, 2048),
                ("Gorner X.T @ logits grad", 6000, 512, 1024, 98),
                ("small X.T @ gates", 3200, 256, 512, 1024)]


def _times(fns, repeats):
    import numpy as np

    for f in fns:
        f()
    runs = [[] for _ in fns]
    for _ in range(repeats):
        for k, f in enumerate(fns):  # alternate the candidates
            t0 = time.perf_counter()
            f()
            runs[k].append(time.perf_counter() - t0)
    return [(min(r) * 1e3, float(np.median(r)) * 1e3) for r in runs]


def _same(a, b):
    """The two candidates compute the same product (float32 sums in another order)."""
    import numpy as np

    np.testing.assert_allclose(a(), b(), rtol=1e-4, atol=1e-3)


def worker(threads, repeats, scale=1):
    """Print the table rows for one thread count (OpenBLAS reads it when NumPy loads);
    ``scale`` divides every size (the test's small run)."""
    import numpy as np

    rng = np.random.default_rng(0)
    print(f"\nOpenBLAS on {threads} thread(s): ms, minimum / median of {repeats}")
    print(f"{'product':<34} {'shape':>20} {'as stored':>16} {'candidate':>16} {'ratio':>6}")
    for label, m, k, n in TRANSPOSE_SHAPES:
        m, k, n = m // scale, k // scale, n // scale
        g = rng.standard_normal((m, k), np.float32)
        w = rng.standard_normal((n, k), np.float32)  # the stored W; the product is g @ W.T
        wt = np.ascontiguousarray(w.T)
        out = np.empty((m, n), np.float32)
        _same(lambda: g @ w.T, lambda: g @ wt)
        (a, am), (b, bm) = _times([lambda: np.dot(g, w.T, out=out),
                                   lambda: np.dot(g, wt, out=out)], repeats)
        print(f"{label + ': W.T / copy':<34} {f'{m}x{k}x{n}':>20} {a:7.3f} / {am:6.3f} "
              f"{b:7.3f} / {bm:6.3f} {a / b:5.2f}x")
    for label, m, width, full, n in SLICE_SHAPES:
        m, width, full, n = m // scale, width // scale, full // scale, max(n // scale, 1)
        x = rng.standard_normal((m, full), np.float32)[:, :width]
        g = rng.standard_normal((m, n), np.float32)
        _same(lambda: np.dot(x.T, g), lambda: np.matmul(x.T, g))
        (a, am), (b, bm) = _times([lambda: np.dot(x.T, g), lambda: np.matmul(x.T, g)],
                                  repeats)
        print(f"{label + ': dot / matmul':<34} {f'{width}x{m}x{n}':>20} {a:7.3f} / {am:6.3f} "
              f"{b:7.3f} / {bm:6.3f} {a / b:5.2f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.repeats)
        return
    print("GEMM layouts: ratio = time as stored (or numpy.dot) / time of the candidate; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    for threads in args.threads.split(","):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
        subprocess.run([sys.executable, __file__, "--worker", threads,
                        "--repeats", str(args.repeats)], env=env, check=True, timeout=600)


if __name__ == "__main__":
    main()
