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

Method: every candidate runs in its own worker process (one per framework and thread count),
so no two frameworks' thread pools share a process; threads are pinned before the libraries
load (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``kernels.set_threads``,
``torch.set_num_threads``) and each worker reports what it got.  The parent (NumPy only) sends
the workers their measurements in turn over pipes, ``--rounds`` alternating rounds of at least
``--min-time`` seconds each; an idle worker sleeps in a pipe read.  The outputs and gradients of
both are compared before timing.  The table shows median milliseconds per call and the ratio
``torch / minigraph`` (> 1: minigraph is faster).  With PyTorch in another process, the
2-thread slowdown of minigraph's earlier kernels remained (lenet500 fwd+bwd 0.18x): it came
from minigraph alternating Numba's and OpenBLAS's pools, fixed in ``kernels/conv_cpu.py``.
Run: ``python3 benchmarks/conv.py`` (45 to 100 s measured on a loaded 2-core machine).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TARGET = "target: ratio >= 1 (minigraph at least as fast as PyTorch CPU) on lenet500"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (input shape, [(filters, pad, stride), ...], [(window, stride), ...])
CASES = {
    "lenet500": ((500, 1, 28, 28), [((20, 1, 5, 5), 0, 1), ((50, 20, 5, 5), 0, 1)],
                 [(2, 2), (2, 2)]),
    "lenet1": ((1, 1, 28, 28), [((20, 1, 5, 5), 0, 1), ((50, 20, 5, 5), 0, 1)],
               [(2, 2), (2, 2)]),
    "odd": ((37, 3, 33, 31), [((16, 3, 3, 3), 1, 1), ((24, 16, 4, 3), 0, 2)],
            [(3, 2), (2, 2)]),
}
PASSES = ("fwd", "fwd+bwd")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per measurement")
    p.add_argument("--cases", default="lenet500,lenet1,odd")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--worker", choices=["minigraph", "torch"], help=argparse.SUPPRESS)
    return p.parse_args()


def case_arrays(case, dt, np):
    """The same input, filters and output gradient in every process (fixed seed)."""
    x_shape, convs, _ = CASES[case]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dt)
    ws = [(rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(dt) for s, _, _ in convs]
    return x, ws, rng


# ---- worker side: one framework, one thread count, commands on stdin -------------------------

def pin_threads(n):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)  # before NumPy / Numba / PyTorch start their pools


def minigraph_fns(case, dt):
    """Compiled forward and forward+backward of the case's conv/pool stack (filters as inputs,
    ``filter_flip=False``: a cross-correlation, as PyTorch's)."""
    import minigraph as theano
    import minigraph.tensor as T
    from minigraph.tensor.signal import pool

    x_shape, convs, pools = CASES[case]
    x = T.tensor(dt, shape=x_shape, name="x")
    ws = [T.tensor(dt, shape=s, name=f"w{i}") for i, (s, _, _) in enumerate(convs)]
    h = x
    for w, (_, padding, stride), (win, st) in zip(ws, convs, pools):
        h = T.nnet.conv2d(h, w, border_mode=padding, subsample=(stride, stride),
                          filter_flip=False)
        h = pool.pool_2d(h, (win, win), ignore_border=True, stride=(st, st))
    g = T.tensor(dt, shape=(None,) * 4, name="G")
    fwd = theano.function([x] + ws, h)
    fb = theano.function([x] + ws + [g], [h] + T.grad(T.sum(h * g), [x] + ws))
    return fwd, fb


def torch_fns(case):
    import torch.nn.functional as F

    _, convs, pools = CASES[case]

    def fwd(x, *ws):
        h = x
        for w, (_, padding, stride), (win, st) in zip(ws, convs, pools):
            h = F.max_pool2d(F.conv2d(h, w, padding=padding, stride=stride), win, st)
        return h

    def fb(x, *ws_and_g):
        *ws, g = ws_and_g
        for t in (x, *ws):
            t.grad = None
        out = fwd(x, *ws)
        out.backward(g)
        return [out, x.grad] + [w.grad for w in ws]

    return fwd, fb


def worker_calls(name, case, dt, np):
    """``{pass: (call, outputs as NumPy arrays)}`` for one case in this worker's framework."""
    x, ws, rng = case_arrays(case, dt, np)
    if name == "minigraph":
        fwd, fb = minigraph_fns(case, dt)
        g = rng.standard_normal(fwd(x, *ws).shape).astype(dt)
        return {"fwd": (lambda: fwd(x, *ws), lambda: [fwd(x, *ws)]),
                "fwd+bwd": (lambda: fb(x, *ws, g), lambda: fb(x, *ws, g))}
    import torch

    fwd, fb = torch_fns(case)
    tx, tws = torch.from_numpy(x), [torch.from_numpy(w) for w in ws]
    g = rng.standard_normal(tuple(fwd(tx, *tws).shape)).astype(dt)
    gx, gws = tx.clone().requires_grad_(), [w.clone().requires_grad_() for w in tws]
    tg = torch.from_numpy(g)
    return {"fwd": (lambda: fwd(tx, *tws), lambda: [fwd(tx, *tws).numpy()]),
            "fwd+bwd": (lambda: fb(gx, *gws, tg),
                        lambda: [t.detach().numpy().copy() for t in fb(gx, *gws, tg)])}


def worker(args):
    pin_threads(int(args.threads))
    sys.path.insert(0, ROOT)
    import numpy as np

    if args.worker == "torch":  # first, and no Numba pool: a started one (and the idle
        import torch  # policy kernels sets) slowed PyTorch's own (benchmarks/custom_cell.py)

        torch.set_num_threads(int(args.threads))
        pinned = {"torch": torch.get_num_threads()}
    import kernels  # before Numba starts its threads (sets their idle policy)
    from kernels import blas_threads

    if args.worker != "torch":
        pinned = {"numba": kernels.set_threads(int(args.threads))}
    if blas_threads.available():
        pinned["openblas"] = blas_threads._CONTROLS[1]()
    print(json.dumps(pinned), flush=True)
    calls = {}
    for line in sys.stdin:  # {"case", "pass", "loops"} -> seconds per call; or "check" -> .npy
        cmd = json.loads(line)
        if cmd["case"] not in calls:
            calls[cmd["case"]] = worker_calls(args.worker, cmd["case"], args.dtype, np)
        run, outputs = calls[cmd["case"]][cmd["pass"]]
        if "check" in cmd:
            np.savez(cmd["check"], *outputs())
            reply = {}
        else:
            loops = cmd["loops"] or calibrate(run, args.min_time)
            t0 = time.perf_counter()
            for _ in range(loops):
                run()
            reply = {"seconds": (time.perf_counter() - t0) / loops, "loops": loops}
        print(json.dumps(reply), flush=True)


def calibrate(run, min_time):
    """Calls per measurement: enough for ``min_time`` seconds (after a warm-up call)."""
    run()
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < min_time / 3:
        run()
        n += 1
    return max(1, 3 * n)


# ---- parent side: start the workers, alternate them, compare, print --------------------------

class Worker:
    def __init__(self, name, args, threads):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--threads",
               str(threads), "--dtype", args.dtype, "--min-time", str(args.min_time)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        self.pinned = self.read()
        self.loops = {}

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.proc.args[3]} exited "
                               f"(rc {self.proc.wait(timeout=60)})")
        return json.loads(line)

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def time(self, case, pass_):
        reply = self.ask(case=case, **{"pass": pass_}, loops=self.loops.get((case, pass_)))
        self.loops[(case, pass_)] = reply["loops"]
        return reply["seconds"]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def check_same(workers, case, pass_, dt, np):
    """Both frameworks computed the same outputs and gradients (to rounding, by scale)."""
    eps = 1e-4 if dt == "float32" else 1e-10
    with tempfile.TemporaryDirectory() as tmp:
        got = []
        for name, w in workers.items():
            path = os.path.join(tmp, name + ".npz")
            w.ask(case=case, **{"pass": pass_}, check=path)
            with np.load(path) as f:
                got.append([f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))])
    for mine, theirs in zip(*got):
        np.testing.assert_allclose(mine, theirs, rtol=eps, atol=eps * np.abs(theirs).max())


def run_threads(args, threads, np):
    workers = {name: Worker(name, args, threads) for name in ("minigraph", "torch")}
    try:
        pins = "; ".join(name + ": " + ", ".join(f"{k}={v}" for k, v in w.pinned.items())
                         for name, w in workers.items())
        print(f"\n{threads} thread(s), {args.dtype}, medians of {args.rounds} alternating "
              f"rounds, each candidate in its own process (pinned: {pins})")
        print(f"{'case':<10} {'pass':<8} {'minigraph ms':>13} {'torch ms':>10} {'torch/mg':>9}")
        for case in args.cases.split(","):
            for pass_ in PASSES:
                check_same(workers, case, pass_, args.dtype, np)
                times = {name: [] for name in workers}
                for r in range(args.rounds):
                    order = list(workers) if r % 2 == 0 else list(workers)[::-1]
                    for name in order:
                        times[name].append(workers[name].time(case, pass_))
                mg, th = (float(np.median(times[n])) for n in ("minigraph", "torch"))
                print(f"{case:<10} {pass_:<8} {mg * 1e3:13.2f} {th * 1e3:10.2f} "
                      f"{th / mg:9.2f}", flush=True)
    finally:
        for w in workers.values():
            w.close()


def main():
    args = parse_args()
    if args.worker:
        worker(args)
        return
    import numpy as np

    t0 = time.perf_counter()
    for threads in args.threads.split(","):
        run_threads(args, int(threads), np)
    print(f"{TARGET}\n({time.perf_counter() - t0:.0f} s; a loaded machine makes every number "
          "noisy: compare ratios within one run)")


if __name__ == "__main__":
    main()
