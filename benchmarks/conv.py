"""Benchmark: minigraph's ``conv2d`` + ``pool_2d`` against PyTorch's CPU ``F.conv2d`` /
``F.max_pool2d``, on the LeNet tutorial's layers.

Cases (``--cases``, default all):

* ``lenet500``: the deeplearning.net LeNet tutorial's convolutional stack at its batch size:
  500 images 1x28x28 -> conv 20@5x5 -> max-pool 2x2 -> conv 50@5x5 -> max-pool 2x2;
* ``lenet1``: the same stack for one image (per-call overheads);
* ``odd``: 37 images 3x33x31 -> conv 16@3x3 pad 1 -> max-pool 3x3 stride 2 -> conv 24@4x3
  stride 2 -> max-pool 2x2 (sizes that are no multiple of anything).

Each case is timed forward only and forward+backward (gradients of ``sum(out * G)`` for the
input and both filter banks). minigraph runs a compiled ``theano.function`` with the filters as
inputs and ``filter_flip=False``, so both frameworks get the same arrays (PyTorch's conv2d is a
cross-correlation); the outputs are compared before timing.

Method: threads pinned (OpenBLAS, Numba and PyTorch), each thread count in its own process
(``--threads 1,2``: pools are sized when the libraries load); the candidates run round-robin,
``--rounds`` times, each measurement at least ``--min-time`` of calls; the table shows median
milliseconds per call and the ratio ``torch / minigraph`` (> 1: minigraph is faster).
Run: ``python3 benchmarks/conv.py`` (1.5 to 3 minutes on a 2-core machine).

With 2 threads, three thread pools share the cores (Numba's OpenMP, OpenBLAS's, PyTorch's
OpenMP), and idle workers that spin steal cores from the next kernel; on a busy machine this
dominates the minigraph column. ``OMP_WAIT_POLICY=PASSIVE`` makes PyTorch's workers sleep too
(measured on a loaded 2-core machine: lenet1 forward+backward from 0.25x to 1.7x PyTorch).
"""

import argparse
import os
import subprocess
import sys
import time

TARGET = "target: ratio >= 1 (minigraph at least as fast as PyTorch CPU) on lenet500"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--rounds", type=int, default=5, help="round-robin repeats (median)")
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per measurement")
    p.add_argument("--cases", default="lenet500,lenet1,odd")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    return p.parse_args()


ARGS = parse_args()
if "," in ARGS.threads:  # one process per thread count
    for n in ARGS.threads.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--threads", n, "--rounds",
               str(ARGS.rounds), "--min-time", str(ARGS.min_time), "--cases", ARGS.cases,
               "--dtype", ARGS.dtype]
        subprocess.run(cmd, check=True, timeout=600)
    print(TARGET)
    sys.exit(0)

THREADS = int(ARGS.threads)
USER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = str(THREADS)  # before NumPy / Numba / PyTorch start their pools
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import kernels  # noqa: E402,F401  (configures Numba's threads before they start)
import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402
from minigraph.tensor.signal import pool  # noqa: E402

numba.set_num_threads(THREADS)
if USER_WAIT_POLICY is None:  # kernels made OpenMP's idle threads sleep; PyTorch keeps its own
    os.environ.pop("OMP_WAIT_POLICY", None)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(THREADS)
DT = np.dtype(ARGS.dtype)

# name: (input shape, [(filters, conv kwargs (pad, stride)), ...], [(ws, stride), ...])
CASES = {
    "lenet500": ((500, 1, 28, 28), [((20, 1, 5, 5), 0, 1), ((50, 20, 5, 5), 0, 1)],
                 [(2, 2), (2, 2)]),
    "lenet1": ((1, 1, 28, 28), [((20, 1, 5, 5), 0, 1), ((50, 20, 5, 5), 0, 1)],
               [(2, 2), (2, 2)]),
    "odd": ((37, 3, 33, 31), [((16, 3, 3, 3), 1, 1), ((24, 16, 4, 3), 0, 2)],
            [(3, 2), (2, 2)]),
}


def minigraph_fns(case):
    """Compiled forward and forward+backward functions of the case's conv/pool stack."""
    x_shape, convs, pools = CASES[case]
    x = T.tensor(DT.name, shape=x_shape, name="x")
    ws = [T.tensor(DT.name, shape=w_shape, name=f"w{i}") for i, (w_shape, _, _) in
          enumerate(convs)]
    h = x
    for w, (_, padding, stride), (win, st) in zip(ws, convs, pools):
        h = T.nnet.conv2d(h, w, border_mode=padding, subsample=(stride, stride),
                          filter_flip=False)
        h = pool.pool_2d(h, (win, win), ignore_border=True, stride=(st, st))
    g = T.tensor(DT.name, shape=(None,) * 4, name="G")
    grads = T.grad(T.sum(h * g), [x] + ws)
    fwd = theano.function([x] + ws, h)
    fb = theano.function([x] + ws + [g], [h] + grads)
    return fwd, fb


def torch_fns(case):
    _, convs, pools = CASES[case]

    def forward(x, *ws):
        h = x
        for w, (_, padding, stride), (win, st) in zip(ws, convs, pools):
            h = F.max_pool2d(F.conv2d(h, w, padding=padding, stride=stride), win, st)
        return h

    def fb(x, *ws_and_g):
        *ws, g = ws_and_g
        for t in (x, *ws):
            t.grad = None
        out = forward(x, *ws)
        out.backward(g)
        return out

    return forward, fb


def bench(cands):
    """Median seconds per call of each candidate, measured round-robin."""
    loops = {}
    for name, f in cands.items():
        f()  # warm up: compiles, first-touch of buffers
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < ARGS.min_time / 3:
            f()
            n += 1
        loops[name] = max(1, 3 * n)
    times = {name: [] for name in cands}
    for _ in range(ARGS.rounds):
        for name, f in cands.items():
            if THREADS > 1:
                time.sleep(0.15)  # OpenBLAS's idle workers spin ~0.1 s after a GEMM
            t0 = time.perf_counter()
            for _ in range(loops[name]):
                f()
            times[name].append((time.perf_counter() - t0) / loops[name])
    return {name: float(np.median(t)) for name, t in times.items()}


def same(mine, theirs):
    """Both frameworks computed the same thing (to rounding, relative to the array's scale)."""
    eps = 1e-4 if DT == np.float32 else 1e-10
    np.testing.assert_allclose(mine, theirs, rtol=eps, atol=eps * np.abs(theirs).max())


def run_case(case):
    x_shape, convs, _ = CASES[case]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(DT)
    ws = [(rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(DT) for s, _, _ in convs]
    fwd, fb = minigraph_fns(case)
    tfwd, tfb = torch_fns(case)
    out = fwd(x, *ws)
    g = rng.standard_normal(out.shape).astype(DT)
    tx, tws, tg = torch.from_numpy(x), [torch.from_numpy(w) for w in ws], torch.from_numpy(g)
    same(out, tfwd(tx, *tws).numpy())
    rows = [("fwd", bench({"minigraph": lambda: fwd(x, *ws),
                           "torch": lambda: tfwd(tx, *tws)}))]
    gx, gws = tx.clone().requires_grad_(), [w.clone().requires_grad_() for w in tws]
    mg_grads = fb(x, *ws, g)[1:]
    tfb(gx, *gws, tg)
    for mine, theirs in zip(mg_grads, [gx.grad] + [w.grad for w in gws]):
        same(mine, theirs.numpy())
    rows.append(("fwd+bwd", bench({"minigraph": lambda: fb(x, *ws, g),
                                   "torch": lambda: tfb(gx, *gws, tg)})))
    return rows


def main():
    print(f"\n{THREADS} thread(s), {DT.name}, medians of {ARGS.rounds} alternating rounds "
          f"(torch {torch.__version__}, numba {numba.__version__})")
    print(f"{'case':<10} {'pass':<8} {'minigraph ms':>13} {'torch ms':>10} {'torch/mg':>9}")
    for case in ARGS.cases.split(","):
        for pass_, t in run_case(case):
            print(f"{case:<10} {pass_:<8} {t['minigraph'] * 1e3:13.2f} {t['torch'] * 1e3:10.2f} "
                  f"{t['torch'] / t['minigraph']:9.2f}", flush=True)


if __name__ == "__main__":
    main()
