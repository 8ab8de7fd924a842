"""Softmax cross-entropy over rows: ``kernels/xent_cpu.py`` against the NumPy expressions the
ops ran before (and still run until the kernels are compiled).

``CrossentropySoftmax`` (the loss of every classifier and char-RNN here) and its gradient,
on a char-RNN's logits (rows = steps x batch, columns = the alphabet) and a word model's
(a 10,000-word vocabulary). The two candidates alternate in one process; the table gives
the minimum and the median of the repeats, and checks that both compute the same values::

    python3 benchmarks/softmax_xent.py [--repeats 41]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernels import xent_cpu  # noqa: E402
from minigraph.tensor.nnet.basic import _np_log_softmax, _np_softmax  # noqa: E402

SHAPES = [("small char-RNN", 3200, 65), ("Gorner char-RNN", 6000, 98),
          ("word model", 640, 10000)]


def numpy_loss(x, y):
    return -_np_log_softmax(x)[np.arange(len(y)), y]


def numpy_grad(gz, x, y):
    g = _np_softmax(x)
    g[np.arange(len(y)), y] -= 1
    g *= gz[:, None]
    return g


def _times(fns, repeats):
    for f in fns:
        f()
    runs = [[] for _ in fns]
    for _ in range(repeats):
        for k, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            runs[k].append(time.perf_counter() - t0)
    return [(min(r) * 1e3, float(np.median(r)) * 1e3) for r in runs]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=41)
    args = parser.parse_args(argv)
    xent_cpu.warm()
    rng = np.random.default_rng(0)
    print(f"softmax cross-entropy, one thread; ms, minimum / median of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'logits':<28} {'dtype':<8} {'part':<9} {'NumPy':>16} {'kernel':>16} {'ratio':>6}")
    for label, rows, cols in SHAPES:
        for dtype in (np.float32, np.float64):
            x = (rng.standard_normal((rows, cols)) * 4).astype(dtype)
            y = rng.integers(0, cols, rows)
            gz = rng.random(rows).astype(dtype)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(xent_cpu.xent_softmax(x, y), numpy_loss(x, y),
                                       rtol=tol, atol=tol)
            np.testing.assert_allclose(xent_cpu.xent_softmax_grad(gz, x, y),
                                       numpy_grad(gz, x, y), rtol=tol, atol=tol)
            for part, fns in (("loss", [lambda: numpy_loss(x, y),
                                        lambda: xent_cpu.xent_softmax(x, y)]),
                              ("gradient", [lambda: numpy_grad(gz, x, y),
                                            lambda: xent_cpu.xent_softmax_grad(gz, x, y)])):
                (a, am), (b, bm) = _times(fns, args.repeats)
                print(f"{f'{label} {rows}x{cols}':<28} {np.dtype(dtype).name:<8} {part:<9} "
                      f"{a:7.3f} / {am:6.3f} {b:7.3f} / {bm:6.3f} {a / b:5.2f}x")


if __name__ == "__main__":
    main()
