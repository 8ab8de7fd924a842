"""Recurrent cells written by a user in plain ops inside ``theano.scan``, trained as a
char-RNN: minigraph against the same cell as a PyTorch eager loop and against its GEMMs alone.

Issue 14's target: a cell minigraph has no special code for runs >= 1.3x the same cell in
PyTorch eager and, at H512/B200, within 1.3x of its GEMMs alone; a GRU in plain ops comes
within 1.15x of minigraph's fused GRU (``T.nnet.gru_sequence``) without GRU-specific matching.

The model: characters ``(T, B)`` as ids, the input projection as a row lookup
``(W_x + b_x)[ids]`` (one-hot times ``W_x``), one recurrent layer in a loop over time, one
linear layer over all the hidden states, softmax cross-entropy averaged over every step, the
gradient, an Adam (or SGD) update, the final state carried to the next step. Cells (each
written once, below, over a namespace of ops, so minigraph and PyTorch run the same formula):

* ``peephole``: an LSTM whose gates also read the cell state (``i, f`` read ``c``, ``o``
  reads the new ``c``), which no library ships as a fused op; two carries ``h, c``;
* ``gru``: the cuDNN GRU, ``n = tanh(gx_n + r * (h @ W_hn + b_hn))``; minigraph's plain
  version (a general loop: no rewrite matches a GRU in plain ops) is compared also with the
  same model through the fused ``T.nnet.gru_sequence``;
* ``mgu``: a minimal gated unit, ``f = sigmoid(gx_f + h @ W_f)``, ``n = tanh(gx_n + (f * h)
  @ W_n)``, ``h' = h + f * (n - h)``: two dependent products per step;
* ``tanh``: ``h' = tanh(gx + h @ W_h)``.

GEMMs alone (``benchmarks/gemm_bound.py``): per step the forward products on the state and
the backward products for its gradient, the weight gradients as one GEMM over all steps, the
output layer and its gradients; ``np.dot`` into preallocated arrays.

Method as in ``benchmarks/charrnn.py``: each framework in a worker process of its own, its
thread pools (OpenBLAS, Numba, PyTorch) pinned to the count measured; the parent alternates
blocks of steps (>= ``BLOCK`` s after a pause) between the workers, reports medians and
ratios within the run, and each worker's peak RSS over that cell's steps (VmHWM reset when
the cell is built). Before timing, every framework's first loss on the same weights and data
must agree (the same model), else the run stops.

    python3 benchmarks/custom_cell.py [--cells peephole,gru,mgu,tanh] [--configs small,large]
                                      [--threads 1,2] [--rounds 3] [--optimizer adam|sgd]
                                      [--no-torch] [--json FILE]

The default run takes about 2 minutes per thread count on a quiet 2-core machine (the
``tiny`` configuration is for a smoke test). ``MINIGRAPH_BENCH_ROOT=DIR`` times the minigraph
of another checkout (its ``minigraph/`` and ``models/``).
"""

import os
import sys

if __name__ == "__main__":  # run as a script (parent or worker), not imported by a test
    THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1,2"
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = THREADS.split(",")[0]  # before NumPy (and PyTorch) load their BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("MINIGRAPH_BENCH_ROOT") or os.path.join(HERE, ".."))
sys.path.append(HERE)  # for gemm_bound; after the packages, shadowing none
from gemm_bound import GemmStep, gemm_flops, train_gemms  # noqa: E402

# H, T, B, V; "tiny" is for a smoke test of the harness
CONFIGS = {"small": (256, 50, 64, 65), "large": (512, 30, 200, 98), "tiny": (8, 4, 3, 11)}
LR = 1e-3
BLOCK, PAUSE = 0.3, 0.15  # seconds of steps per block; rest before each (OpenBLAS spins ~0.1 s)


# ---------------------------------------------------------------------------- cells


def _peephole(o, gx, s, p, H):
    h, c = s
    g = gx + o.dot(h, p["W_h"])  # gates i, f, u, o
    i = o.sigmoid(g[:, :H] + c * p["w_ci"])
    f = o.sigmoid(g[:, H:2 * H] + c * p["w_cf"])
    c = f * c + i * o.tanh(g[:, 2 * H:3 * H])
    return o.sigmoid(g[:, 3 * H:] + c * p["w_co"]) * o.tanh(c), c


def _gru(o, gx, s, p, H):
    (h,) = s
    gh = o.dot(h, p["W_h"]) + p["b_h"]  # gates r, z, n
    r = o.sigmoid(gx[:, :H] + gh[:, :H])
    z = o.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = o.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    return ((1 - z) * n + z * h,)


def _mgu(o, gx, s, p, H):
    (h,) = s
    f = o.sigmoid(gx[:, :H] + o.dot(h, p["W_f"]))
    n = o.tanh(gx[:, H:] + o.dot(f * h, p["W_n"]))
    return (h + f * (n - h),)


def _tanh(o, gx, s, p, H):
    return (o.tanh(gx + o.dot(s[0], p["W_h"])),)


@dataclass(frozen=True)
class Cell:
    """A cell: its step ``step(ops, gx_t, states, params, H) -> states`` (``states[0]`` is
    the output ``h``), the input projection's width and the recurrent parameters' shapes in
    units of ``H`` (``(H, 4H)`` is ``(1, 4)``, a vector ``(4H,)`` is ``(4,)``), and its
    recurrent products for the GEMM set."""

    step: object
    gates: int
    carries: int
    shapes: dict
    recurrent: tuple


CELLS = {
    "peephole": Cell(_peephole, 4, 2, {"W_h": (1, 4), "w_ci": (1,), "w_cf": (1,),
                                       "w_co": (1,)}, ((1, 4),)),
    "gru": Cell(_gru, 3, 1, {"W_h": (1, 3), "b_h": (3,)}, ((1, 3),)),
    "mgu": Cell(_mgu, 2, 1, {"W_f": (1, 1), "W_n": (1, 1)}, ((1, 1), (1, 1))),
    "tanh": Cell(_tanh, 1, 1, {"W_h": (1, 1)}, ((1, 1),)),
}


def init_params(cell, hidden, vocab, dtype="float32", seed=0):
    """The parameter arrays by name, uniform(-1/sqrt(H), 1/sqrt(H)) like PyTorch's cells."""
    rng = np.random.default_rng(seed)
    c, H, k = CELLS[cell], hidden, 1 / np.sqrt(hidden)
    shapes = {"W_x": (vocab, c.gates * H), "b_x": (c.gates * H,), "W_y": (H, vocab),
              "b_y": (vocab,)}
    shapes.update({n: tuple(d * H for d in s) for n, s in c.shapes.items()})
    return {n: rng.uniform(-k, k, s).astype(dtype) for n, s in shapes.items()}


def batch_data(hidden, seq_len, batch, vocab, seed=0):
    """Input and target ids ``(T, B)`` int32: the target is the next character."""
    ids = np.random.default_rng(seed).integers(0, vocab, (seq_len + 1, batch)).astype(np.int32)
    return ids[:-1], ids[1:]


# ---------------------------------------------------------------------- train steps


def minigraph_train(cell, sizes, optimizer="adam", lr=LR, fused=False, dtype="float32"):
    """``step() -> loss``: one minigraph train step on fixed data, the state carried.

    `fused` runs the GRU through ``T.nnet.gru_sequence`` (same parameters, same model);
    otherwise the cell is a ``theano.scan`` over its plain-op step.
    """
    import minigraph as theano
    import minigraph.tensor as T
    from minigraph import updates
    from minigraph.compile.mode import get_default_mode

    H, n_steps, batch, vocab = sizes
    c = CELLS[cell]
    p = {n: theano.shared(a, name=n) for n, a in init_params(cell, H, vocab, dtype).items()}
    x, y = T.imatrix("x"), T.imatrix("y")
    s0 = [T.matrix(f"s{k}", dtype=dtype) for k in range(c.carries)]
    ops = SimpleNamespace(dot=T.dot, sigmoid=T.nnet.sigmoid, tanh=T.tanh)
    gx = T.reshape((p["W_x"] + p["b_x"])[T.flatten(x)], (x.shape[0], x.shape[1], c.gates * H))
    if fused:
        hs = T.nnet.gru_sequence(gx, s0[0], p["W_h"], p["b_h"])
        finals = [hs[-1]]
    else:
        def body(gx_t, *s):
            new = c.step(ops, gx_t, s, p, H)
            return new[0] if len(new) == 1 else list(new)

        outs, _ = theano.scan(body, sequences=[gx], outputs_info=s0, name=f"{cell}_cell")
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        hs, finals = outs[0], [o[-1] for o in outs]
    logits = T.dot(T.reshape(hs, (-1, H)), p["W_y"]) + p["b_y"]
    loss = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(logits), T.flatten(y)))
    params = list(p.values())
    rule = updates.adam if optimizer == "adam" else updates.sgd
    train = theano.function([x, y, *s0], [loss, *finals], mode=get_default_mode(),
                            name=f"train_{cell}",
                            updates=rule(theano.grad(loss, params), params, learning_rate=lr))
    xs, ys = batch_data(*sizes)
    state = [np.zeros((batch, H), dtype) for _ in range(c.carries)]

    def step():
        loss, *state[:] = train(xs, ys, *state)
        return float(loss)

    step.function = train  # for a look at the compiled graph
    return step


def torch_train(cell, sizes, optimizer="adam", lr=LR, dtype="float32"):
    """``step() -> loss``: the same model and step as a PyTorch eager loop (None without
    PyTorch)."""
    try:
        import torch
    except ImportError:
        return None
    H, n_steps, batch, vocab = sizes
    c = CELLS[cell]
    p = {n: torch.tensor(a, requires_grad=True)
         for n, a in init_params(cell, H, vocab, dtype).items()}
    ops = SimpleNamespace(dot=torch.matmul, sigmoid=torch.sigmoid, tanh=torch.tanh)
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(p.values(), lr=lr)
    xs, ys = (torch.from_numpy(a).long() for a in batch_data(*sizes))
    target = ys.reshape(-1)
    state = [torch.zeros(batch, H, dtype=getattr(torch, dtype)) for _ in range(c.carries)]

    def step():
        gx = torch.nn.functional.embedding(xs, p["W_x"]) + p["b_x"]
        s, hs = state, []
        for t in range(n_steps):
            s = c.step(ops, gx[t], s, p, H)
            hs.append(s[0])
        logits = torch.stack(hs).reshape(-1, H) @ p["W_y"] + p["b_y"]
        loss = torch.nn.functional.cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state[:] = [v.detach() for v in s]
        return loss.item()

    return step


def cell_gemms(cell, config):
    """The GEMMs of one train step of `cell` at `config` (`gemm_bound.train_gemms`)."""
    H, n_steps, batch, vocab = CONFIGS[config]
    c = CELLS[cell]
    return train_gemms(1, H, n_steps, batch, vocab, c.recurrent, c.gates)


def gemm_train(cell, config):
    """``step()``: the GEMMs alone of one train step of `cell` (NumPy, float32)."""
    step = GemmStep(cell_gemms(cell, config))
    return lambda: step() or float("nan")


def variants(framework, cell, config, optimizer):
    """The train steps a worker of `framework` times for `cell`: name -> step (or None)."""
    sizes = CONFIGS[config]
    if framework == "torch":
        return {"torch": torch_train(cell, sizes, optimizer)}
    if framework == "gemm":
        return {"gemm": gemm_train(cell, config)}
    out = {"minigraph": minigraph_train(cell, sizes, optimizer)}
    if cell == "gru":
        out["fused"] = minigraph_train(cell, sizes, optimizer, fused=True)
    return out


# ---------------------------------------------------------------------------- workers


def _peak_rss_mb(reset=False):
    """This process's peak RSS (VmHWM) in MB; `reset` starts a new peak from here
    (``/proc/self/clear_refs``)."""
    kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
    if reset:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:  # not Linux, or not allowed: the peak then spans the whole worker
            pass
    return kb / 1024


def worker_main(framework, threads, optimizer):
    """A worker: pin threads, then serve ``build CELL CONFIG`` (reply: each variant's first
    loss), ``run VARIANT N`` (reply: seconds per step) and ``rss`` (peak MB since build)."""
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    else:  # not in PyTorch's worker: Numba's started pool made its eager loop up to 12x slower
        import numba  # (the peephole cell, small: 20,027 chars/s alone, 1,691 after it)

        numba.set_num_threads(threads)
        if framework == "minigraph":
            _steady_state()
    print("ready", flush=True)
    steps = {}
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "build":
            steps.clear()
            _peak_rss_mb(reset=True)
            try:
                steps = variants(framework, cmd[1], cmd[2], optimizer)
                steps = {k: f for k, f in steps.items() if f is not None}
                # on the initial weights; also the warm-up (kernels compiled, caches), with
                # the parent's calibrating step
                first = {k: f() for k, f in steps.items()}
                reply = {"losses": first}
            except Exception as exc:  # reported by the parent, the other cells go on
                reply = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            print(json.dumps(reply), flush=True)
        elif cmd[0] == "run":
            f, n = steps[cmd[1]], int(cmd[2])
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            print((time.perf_counter() - t0) / n, flush=True)
        elif cmd[0] == "rss":
            print(_peak_rss_mb(), flush=True)


def _steady_state():
    """What a long run reaches, as ``benchmarks/charrnn.py`` sets it: fused elementwise
    kernels and scan loops compiled from the first call, malloc tuned as the char-RNN CLI
    does."""
    from models.charrnn.cli import tune_malloc

    try:
        from minigraph.tensor.fusion import POLICY

        POLICY.compile_after = 0
    except (ImportError, AttributeError):  # the hot policy moved: its default then
        pass
    try:
        from minigraph.codegen import scanloop

        scanloop.POLICY.compile_after_calls, scanloop.POLICY.background = 0, False
    except ImportError:  # a baseline checkout without the loop compiler
        pass
    try:  # softmax cross-entropy kernels (kernels/xent_cpu.py): compiled before timing
        from kernels import xent_cpu

        xent_cpu.warm()
    except ImportError:  # a baseline checkout without them
        pass
    tune_malloc()


class Worker:
    """The parent's handle on one framework's worker process (`worker_main`)."""

    def __init__(self, framework, threads, args):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(max(threads, 1)))
        env.pop("OMP_WAIT_POLICY", None)  # each framework picks its own
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework,
               "--threads", str(threads), "--optimizer", args.optimizer]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.framework, self.ok = framework, self._read() == "ready"

    def _read(self):
        return self.proc.stdout.readline().strip()

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def ask(self, line):
        self.send(line)
        return self._read()

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def measure(workers, cell, config, rounds):
    """Median seconds per step of every variant of every worker for one cell and config,
    blocks alternating; their first losses; peak RSS per worker."""
    for w in workers:  # all build at once (compiles overlap), then the replies
        w.send(f"build {cell} {config}")
    built = {w: json.loads(w._read()) for w in workers}
    errors = {w.framework: r["error"] for w, r in built.items() if "error" in r}
    losses = {k: v for r in built.values() for k, v in r.get("losses", {}).items()}
    runs = [(w, v) for w, r in built.items() for v in r.get("losses", {})]
    sizes = {}
    for w, v in runs:
        time.sleep(PAUSE)
        sizes[v] = max(1, round(BLOCK / float(w.ask(f"run {v} 1"))))
    times = {v: [] for _, v in runs}
    for r in range(rounds):
        for w, v in (runs if r % 2 == 0 else runs[::-1]):
            time.sleep(PAUSE)
            times[v].append(float(w.ask(f"run {v} {sizes[v]}")))
    rss = {w.framework: float(w.ask("rss")) for w in workers if w.framework != "gemm"}
    return {"seconds": {v: statistics.median(t) for v, t in times.items()},
            "first_loss": losses, "rss_mb": rss, "errors": errors}


def check_same_model(row, cell, config):
    """Every framework's loss on the initial weights must agree: the same model is timed."""
    losses = {k: v for k, v in row["first_loss"].items() if k != "gemm"}
    ref = losses.get("torch", losses.get("minigraph"))
    bad = {k: v for k, v in losses.items() if not np.isclose(v, ref, rtol=1e-4, atol=1e-5)}
    if bad:
        raise SystemExit(f"{cell}/{config}: first losses differ {losses}: not the same model")


# ---------------------------------------------------------------------------- report

HEADER = (f"{'cell':<9}{'config':<22}{'minigraph':>11}{'pytorch':>10}{'speed-up':>9}"
          f"{'GEMMs':>11}{'/GEMMs':>7}{'pt/GEMMs':>9}{'fused GRU':>11}{'/fused':>7}"
          f"{'RSS mg':>8}{'pt':>6}{'load':>6}")


def report_row(cell, config, row):
    H, n_steps, batch, vocab = CONFIGS[config]
    label = f"{config} H{H} T{n_steps} B{batch} V{vocab}"
    if row["errors"]:
        print(f"{cell:<9}{label:<22} failed: {row['errors']}")
    s, chars = row["seconds"], n_steps * batch

    def rate(v):
        return f"{chars / s[v]:,.0f}/s" if v in s else "n/a"

    def ratio(a, b):
        return f"{s[a] / s[b]:.2f}x" if a in s and b in s else "n/a"

    rss = row["rss_mb"]
    print(f"{cell:<9}{label:<22}{rate('minigraph'):>11}{rate('torch'):>10}"
          f"{ratio('torch', 'minigraph'):>9}{rate('gemm'):>11}{ratio('minigraph', 'gemm'):>7}"
          f"{ratio('torch', 'gemm'):>9}{rate('fused'):>11}{ratio('minigraph', 'fused'):>7}"
          f"{rss.get('minigraph', 0):>6.0f}MB{rss.get('torch', 0):>4.0f}MB"
          f"{os.getloadavg()[0]:>6.1f}", flush=True)


FOOTER = """(chars/s of whole train steps, medians; speed-up = PyTorch eager step time /
minigraph step time (target >= 1.3x); /GEMMs = minigraph step time / its GEMMs alone (target
<= 1.3x at large), pt/GEMMs the same for PyTorch; /fused = plain-ops GRU / fused
T.nnet.gru_sequence (target <= 1.15x);
RSS: peak of each worker over that cell's build and steps; load: the machine's 1-minute load
average after the row: above the thread count, steps slow down, PyTorch's multi-threaded
ones most)"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--configs", default="small,large")
    parser.add_argument("--threads", default="1,2", help="comma-separated (default 1,2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker, int(args.threads), args.optimizer)
    cells, configs = args.cells.split(","), args.configs.split(",")
    for name, known in (("cell", CELLS), ("config", CONFIGS)):
        unknown = [c for c in (cells if name == "cell" else configs) if c not in known]
        if unknown:
            parser.error(f"unknown {name} {unknown}; choose from {', '.join(known)}")
    t_start = time.perf_counter()
    print(f"custom cells in scan: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; workers per framework, threads pinned; median of "
          f"{args.rounds} alternating rounds; {args.optimizer} lr {LR}; float32; "
          f"load average {os.getloadavg()[0]:.2f}")
    results = {}
    frameworks = ["minigraph", "gemm"] + ([] if args.no_torch else ["torch"])
    for threads in (int(t) for t in args.threads.split(",")):
        workers = [Worker(f, threads, args) for f in frameworks]
        workers = [w for w in workers if w.ok]
        print(f"\n{threads} thread(s)\n{HEADER}", flush=True)
        for config in configs:
            for cell in cells:
                row = measure(workers, cell, config, args.rounds)
                report_row(cell, config, row)
                check_same_model(row, cell, config)
                results.setdefault(threads, {}).setdefault(cell, {})[config] = row
        for w in workers:
            w.close()
    print("GEMMs alone, GFLOP a step: " + "; ".join(
        f"{config}: " + ", ".join(f"{cell} {gemm_flops(cell_gemms(cell, config)) / 1e9:.2f}"
                                  for cell in cells) for config in configs))
    print(FOOTER)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; "
          f"{time.perf_counter() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
