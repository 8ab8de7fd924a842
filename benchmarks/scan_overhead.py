"""What a minigraph ``scan`` costs over the same loop written in NumPy.

Measures, on a tiny body ``h = tanh(x_t + h @ W)`` (H=16, 1,000 steps, float64):

* time per step of the forward loop, and of forward + backward (BPTT for ``x``, ``h0``
  and ``W``), against a NumPy loop doing the same arithmetic (backward written by hand);
  the difference is the framework's overhead per step (targets: < 10 us forward,
  < 25 us forward + backward);
* compile time of the fast.ai lesson-6 RNN training function (scan + grad + SGD updates,
  hidden 256, vocabulary 86; target < 0.3 s), split into building the graph and compiling;
* calls per second of that function (batch 1, 8 steps, ReLU, softmax per step, SGD) against
  the same model and update in PyTorch eager (when installed), alternating blocks of calls
  in one process, one thread each (issue 14's row; target >= 2.5x); and against PyTensor's
  compiled C function of the same model (``cvm`` linker: g++-compiled ops, scan's loop in
  Cython), in a worker process alternating with them (target >= 2x), with PyTensor's build
  and compile time. PyTensor is for this benchmark only, not a minigraph dependency:
  ``pip install pytensor`` into this interpreter or another (``--pytensor-python PATH``;
  without it the line says why it was not measured), and a system BLAS for its C GEMMs
  (Debian ``libopenblas-dev``; the worker points PyTensor at it);
* peak memory of the gradient call for several lengths: its growth per step, compared
  with the size of one carry (the backward pass keeps the carry traces, not the step's
  intermediates, so it grows linearly with a small multiple of the carry).

Threads are pinned to one (BLAS and Numba) and reported; minigraph and NumPy runs are
interleaved and each figure is a median, so a busy machine affects both sides alike::

    python benchmarks/scan_overhead.py [--steps 1000] [--repeats 15]
                                       [--pytensor-python PYTHON] [--pytensor-cold]
                                       [--no-pytensor]

``MINIGRAPH_BENCH_ROOT=DIR`` times the minigraph of another checkout instead (A/B).
"""

import os
import sys

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import select  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections import OrderedDict  # noqa: E402
from ctypes.util import find_library  # noqa: E402

import numpy as np  # noqa: E402

# this checkout's minigraph, or another's (MINIGRAPH_BENCH_ROOT=DIR) for an A/B comparison
sys.path.insert(0, os.environ.get("MINIGRAPH_BENCH_ROOT")
                or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402


def numpy_forward(x, h0, W):
    out, h = np.empty((len(x), len(h0))), h0
    for t in range(len(x)):
        h = np.tanh(x[t] + h @ W)
        out[t] = h
    return out


def numpy_forward_backward(x, h0, W):
    """The cost ``sum(h)`` and its gradients for x, h0 and W, by hand."""
    hs = numpy_forward(x, h0, W)
    gx, gW, g = np.empty_like(x), np.zeros_like(W), np.zeros_like(h0)
    for t in range(len(x) - 1, -1, -1):
        pre = (1.0 + g) * (1.0 - hs[t] ** 2)
        gx[t] = pre
        gW += np.outer(hs[t - 1] if t else h0, pre)
        g = W @ pre
    return hs.sum(), gx, g, gW


def minigraph_functions():
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=h0, non_sequences=W)
    cost = hs.sum()
    forward = theano.function([x, h0, W], hs)
    both = theano.function([x, h0, W], [cost] + theano.grad(cost, [x, h0, W]))
    return forward, both


def interleaved(fns, args, repeats):
    """Median seconds of each function, the runs interleaved."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for k, f in enumerate(fns):
            t0 = time.perf_counter()
            f(*args)
            times[k].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


FASTAI_V, FASTAI_H, FASTAI_STEPS, FASTAI_LR = 86, 256, 8, 0.01


def fastai_weights(rng):
    """The lesson-6 RNN's initial weights: W_h, b_h, W_x, b_x, W_y, b_y (float32)."""
    V, H = FASTAI_V, FASTAI_H
    return [np.eye(H, dtype="float32"), np.zeros(H, "float32"),
            rng.normal(scale=math.sqrt(2 / V), size=(V, H)).astype("float32"),
            np.zeros(H, "float32"),
            rng.normal(scale=math.sqrt(2 / H), size=(H, V)).astype("float32"),
            np.zeros(V, "float32")]


def fastai_graph(w):
    """The lesson-6 RNN's scan and SGD step over the shared weights ``w``:
    ``(inputs, error, updates)`` for ``theano.function``."""
    x, y, h0, lr = T.fmatrix("x"), T.fmatrix("y"), T.fvector("h0"), T.fscalar("lr")

    def step(x_t, h, W_h, b_h, W_x, b_x, W_y, b_y):
        h = T.nnet.relu(T.dot(x_t, W_x) + b_x + T.dot(h, W_h) + b_h)
        return h, T.flatten(T.nnet.softmax(T.dot(h, W_y) + b_y), 1)

    [_, ys], _ = theano.scan(step, sequences=x, outputs_info=[h0, None], non_sequences=w)
    error = T.nnet.categorical_crossentropy(ys, y).sum()
    updates = OrderedDict((p, p - g * lr) for p, g in zip(w, theano.grad(error, w)))
    return [h0, x, y, lr], error, updates


def fastai_function(rng):
    """The lesson-6 RNN training function ``f(h0, x, y, lr) -> error`` (SGD updates), and a
    function putting the initial weights back."""
    init = fastai_weights(rng)
    w = [theano.shared(a.copy()) for a in init]
    inputs, error, updates = fastai_graph(w)
    f = theano.function(inputs, error, updates=updates, allow_input_downcast=True)

    def reset():
        for p, a in zip(w, init):
            p.set_value(a.copy())

    return f, reset


def torch_fastai_function(rng):
    """The same model and SGD step in PyTorch eager and its reset, or None without
    PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    init = fastai_weights(rng)
    W_h, b_h, W_x, b_x, W_y, b_y = w = [torch.tensor(a, requires_grad=True) for a in init]

    def f(h0, x, y, lr):
        h, err = torch.from_numpy(h0), 0.0
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        for t in range(len(x)):
            h = torch.relu(x[t] @ W_x + b_x + h @ W_h + b_h)
            p = torch.softmax(h @ W_y + b_y, dim=0)
            err = err - (y[t] * torch.log(p)).sum()
        for p in w:
            p.grad = None
        err.backward()
        with torch.no_grad():
            for p in w:
                p -= lr * p.grad
        return err.item()

    def reset():
        with torch.no_grad():
            for p, a in zip(w, init):
                p.copy_(torch.from_numpy(a))

    return f, reset


def fastai_args():
    """The lesson-6 call's arguments ``(h0, x, y, lr)``: 8 one-hot characters and the next."""
    rng = np.random.default_rng(0)
    V, n = FASTAI_V, FASTAI_STEPS
    ids = rng.integers(0, V, n + 1)
    x, y = np.eye(V, dtype="float32")[ids[:-1]], np.eye(V, dtype="float32")[ids[1:]]
    return np.zeros(FASTAI_H, "float32"), x, y, np.float32(FASTAI_LR)


def timed_block(f, reset, args, block):
    """Seconds per call of `block` calls of ``f(*args)`` from the initial weights."""
    reset()
    t0 = time.perf_counter()
    for _ in range(block):
        err = f(*args)
    assert np.isfinite(err), err
    return (time.perf_counter() - t0) / block


def fastai_rate(repeats, block=50, pytensor=None):
    """Calls per second of the lesson-6 training function, minigraph, PyTorch (None
    without it) and `pytensor` (a started `PytensorWorker`, or None): medians of `repeats`
    alternating blocks of `block` calls, each from the initial weights (hundreds of SGD
    steps on one batch would drive the softmax to exact zeros, and the timings into NaN
    arithmetic)."""
    args = fastai_args()
    fns = {"minigraph": fastai_function(np.random.default_rng(1)),  # the same weights
           "torch": torch_fastai_function(np.random.default_rng(1))}
    fns = {k: f for k, f in fns.items() if f is not None}
    errors = {k: f(*args) for k, (f, _) in fns.items()}  # warm up; same data, same error
    runs = {k: (lambda f=f, reset=reset: timed_block(f, reset, args, block))
            for k, (f, reset) in fns.items()}
    if pytensor is not None and pytensor.ok:
        errors["pytensor"] = pytensor.info["error"]
        runs["pytensor"] = lambda: pytensor.run(block)
    assert np.allclose(list(errors.values()), errors["minigraph"], rtol=1e-4), errors
    times = {k: [] for k in runs}
    for r in range(repeats):
        for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            times[k].append(runs[k]())
    return {k: 1 / float(np.median(t)) for k, t in times.items()}


def fastai_compile_time(repeats):
    """(build s, compile s): the lesson-6 RNN's scan + grad, then ``function``."""
    rng = np.random.default_rng(0)
    builds, compiles = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        inputs, error, updates = fastai_graph([theano.shared(a) for a in fastai_weights(rng)])
        t1 = time.perf_counter()
        theano.function(inputs, error, updates=updates, allow_input_downcast=True)
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        compiles.append(t2 - t1)
    return float(np.median(builds)), float(np.median(compiles))


# ---- PyTensor's C backend, in a worker process of its own -----------------------------------


def pytensor_fastai_function():
    """The lesson-6 model and SGD step in PyTensor, compiled by its C backend (the ``cvm``
    linker: each op's C code compiled by g++, scan's loop in Cython); returns ``(f, reset,
    build s, compile s)``; compile includes the first call."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode

    init = fastai_weights(np.random.default_rng(1))
    t0 = time.perf_counter()
    w = [pytensor.shared(a.copy()) for a in init]
    x, y, h0, lr = pt.fmatrix("x"), pt.fmatrix("y"), pt.fvector("h0"), pt.fscalar("lr")

    def step(x_t, h, W_h, b_h, W_x, b_x, W_y, b_y):
        h = pt.maximum(pt.dot(x_t, W_x) + b_x + pt.dot(h, W_h) + b_h, 0)
        return h, pt.special.softmax(pt.dot(h, W_y) + b_y, axis=-1)

    new_api = "return_updates" in inspect.signature(pytensor.scan).parameters
    out = pytensor.scan(step, sequences=x, outputs_info=[h0, None], non_sequences=w,
                        **({"return_updates": False} if new_api else {}))
    _, ys = out if new_api else out[0]
    error = -(y * pt.log(ys)).sum()
    updates = [(p, p - g * lr) for p, g in zip(w, pytensor.grad(error, w))]
    t1 = time.perf_counter()
    f = pytensor.function([h0, x, y, lr], error, updates=updates, allow_input_downcast=True,
                          mode=Mode(linker="cvm", optimizer="fast_run"))
    f(*fastai_args())
    t2 = time.perf_counter()

    def reset():
        for p, a in zip(w, init):
            p.set_value(a.copy())

    return f, reset, t1 - t0, t2 - t1


def pytensor_worker():
    """The worker's side of `PytensorWorker`: compile, reply with a JSON line (times, first
    error, BLAS flags, or why it failed), then serve ``N`` -> seconds per call."""
    try:
        import pytensor

        cache = pytensor.config.compiledir
        before = sum(len(files) for _, _, files in os.walk(cache))
        f, reset, build, comp = pytensor_fastai_function()
        args = fastai_args()
        reset()
        info = {"version": pytensor.__version__, "build": build, "compile": comp,
                "error": float(f(*args)), "blas": pytensor.config.blas__ldflags,
                "new_files": sum(len(files) for _, _, files in os.walk(cache)) - before}
    except Exception as exc:  # ImportError, a failed C compile: the table says why
        info = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(info), flush=True)
    if "failed" in info:
        return
    for line in sys.stdin:
        print(timed_block(f, reset, args, int(line)), flush=True)


class PytensorWorker:
    """PyTensor's lesson-6 function in a child process (``python`` is its interpreter, the
    one that has PyTensor), one thread, its compile cache PyTensor's own or, if `cold`, a new
    empty one; ``info`` is its reply, ``ok`` whether it runs."""

    def __init__(self, python, cold=False, timeout=600):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        if cold:  # an empty compile cache: what PyTensor's first run on a machine costs
            self.cache = tempfile.TemporaryDirectory()
            env["PYTENSOR_FLAGS"] = ",".join(filter(None, [env.get("PYTENSOR_FLAGS"),
                                                           f"base_compiledir={self.cache.name}"]))
        if "blas__ldflags" not in env.get("PYTENSOR_FLAGS", "") and find_library("openblas"):
            # PyTensor does not find a system OpenBLAS by itself when NumPy bundles its own;
            # without it its C GEMMs go through NumPy's C API, several times slower
            env["PYTENSOR_FLAGS"] = ",".join(filter(None, [env.get("PYTENSOR_FLAGS"),
                                                           "blas__ldflags=-lopenblas"]))
        self.log = tempfile.TemporaryFile("w+")  # PyTensor's warnings, shown when it fails
        try:
            self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--pytensor-worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.log, text=True, env=env)
            ready = select.select([self.proc.stdout], [], [], timeout)[0]
            line = self.proc.stdout.readline() if ready else ""
            self.info = json.loads(line) if line else {"failed": f"no reply in {timeout} s"}
        except (OSError, ValueError) as exc:
            self.info = {"failed": f"{type(exc).__name__}: {exc}"}
        self.ok = "failed" not in self.info

    def run(self, block):
        self.proc.stdin.write(f"{block}\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], 300)[0]:
            raise RuntimeError("the PyTensor worker did not answer in 300 s")
        return float(self.proc.stdout.readline())

    def close(self):
        if hasattr(self, "proc"):
            self.proc.kill()
            self.proc.wait()


def describe_pytensor(worker, rates):
    """The PyTensor part of the lesson-6 line: its rate and compile time, or why not."""
    if not worker.ok:
        return f"PyTensor's C function not measured: {worker.info['failed']}"
    i = worker.info
    cache = (f"cold cache: {i['new_files']} files compiled" if i["new_files"]
             else "its compile cache warm")
    blas = f", BLAS {i['blas']}" if i["blas"] else (
        "; PyTensor found no BLAS to link (blas__ldflags empty), its C GEMMs go through "
        "NumPy's C API, several times slower: install a system BLAS (Debian libopenblas-dev)")
    return (f"PyTensor {i['version']} C backend (cvm) {rates['pytensor']:,.0f} calls/s, ratio "
            f"{rates['minigraph'] / rates['pytensor']:.2f}x (target >= 2x), after build "
            f"{i['build']:.1f} s + compile {i['compile']:.1f} s ({cache}){blas}")


def peak_bytes(f, args):
    tracemalloc.start()
    tracemalloc.reset_peak()
    f(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--pytensor-python", default=sys.executable, metavar="PYTHON",
                        help="the interpreter that has PyTensor, for its column (default: "
                             "this one)")
    parser.add_argument("--no-pytensor", action="store_true")
    parser.add_argument("--pytensor-cold", action="store_true",
                        help="compile PyTensor's function into an empty cache (its first run)")
    parser.add_argument("--pytensor-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pytensor_worker:
        return pytensor_worker()
    try:  # steady state: loops compiled at their first call (a run compiles them in the
        from minigraph.codegen import scanloop  # background after its first calls)

        scanloop.POLICY.compile_after_calls, scanloop.POLICY.background = 0, False
    except ImportError:  # a baseline checkout without the loop compiler
        pass
    # and fused elementwise kernels too (a training run compiles them after 1,000 calls,
    # in the background: the measured blocks, fewer calls, would time the NumPy composite
    # and the compile), as benchmarks/charrnn.py's steady_state does
    from minigraph.tensor.fusion import POLICY as FUSION

    FUSION.compile_after = 0
    try:  # the Gemm kernel of the SGD updates (minigraph/codegen/blas.py), compiled now
        from minigraph.codegen.blas import warm_gemm

        warm_gemm()
    except ImportError:  # a baseline checkout without it
        pass
    try:
        import numba

        numba.set_num_threads(1)
        numba_threads = numba.get_num_threads()
    except ImportError:  # pragma: no cover
        numba_threads = "n/a"
    H, n = 16, args.steps
    rng = np.random.default_rng(0)
    vals = (rng.normal(size=(n, H)), rng.normal(size=H), rng.normal(size=(H, H)) * 0.3)
    forward, both = minigraph_functions()
    ref = numpy_forward_backward(*vals)
    for a, b in zip(both(*vals), ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    for _ in range(2):  # warm up (fused kernels, caches)
        forward(*vals), both(*vals)
    t_mf, t_nf, t_mb, t_nb = interleaved(
        [forward, numpy_forward, both, numpy_forward_backward], vals, args.repeats)
    us = 1e6 / n
    print(f"scan of h = tanh(x_t + h @ W), H={H}, {n} steps, float64; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"numba threads={numba_threads}; medians of {args.repeats} interleaved runs\n")
    print(f"{'per step':<22}{'minigraph us':>14}{'NumPy us':>12}{'overhead us':>13}"
          f"{'target':>10}")
    for label, m, p, target in (("forward", t_mf, t_nf, 10),
                                ("forward + backward", t_mb, t_nb, 25)):
        print(f"{label:<22}{m * us:>14.2f}{p * us:>12.2f}{(m - p) * us:>13.2f}"
              f"{'< ' + str(target):>10}")
    build, comp = fastai_compile_time(5)
    print(f"\nfast.ai lesson-6 RNN training function (scan + grad + SGD): build {build:.3f} s, "
          f"compile {comp:.3f} s, total {build + comp:.3f} s (target < 0.3 s)")
    pytensor = (None if args.no_pytensor
                else PytensorWorker(args.pytensor_python, cold=args.pytensor_cold))
    try:
        rates = fastai_rate(args.repeats, pytensor=pytensor)
    finally:
        if pytensor is not None:
            pytensor.close()
    torch_rate = rates.get("torch")
    print(f"fast.ai lesson-6 RNN training function (batch 1, {FASTAI_STEPS} steps, hidden "
          f"{FASTAI_H}, ReLU, softmax per step, SGD), 1 thread: {rates['minigraph']:,.0f} "
          f"calls/s; PyTorch eager " + (f"{torch_rate:,.0f} calls/s, ratio "
                                        f"{rates['minigraph'] / torch_rate:.2f}x (target >= 2.5x)"
                                        if torch_rate else "not installed"))
    if pytensor is not None:
        print("  " + describe_pytensor(pytensor, rates))
    lengths = [n // 4, n // 2, n, 2 * n]
    peaks = []
    for m in lengths:
        v = (rng.normal(size=(m, H)), vals[1], vals[2])
        both(*v)
        peaks.append(peak_bytes(both, v))
    slope = np.polyfit(lengths, peaks, 1)[0]
    print("\npeak memory of forward + backward (tracemalloc): "
          + ", ".join(f"{m} steps {p / 1024:.0f} KiB" for m, p in zip(lengths, peaks)))
    print(f"grows by {slope:.0f} bytes per step = {slope / (H * 8):.1f} x the carry "
          f"({H * 8} bytes: h is {H} float64): the trace of h, the returned gradient of x and "
          f"n_steps x H temporaries of the gradient graph; nothing from inside the step is "
          f"kept per step")


if __name__ == "__main__":
    main()
