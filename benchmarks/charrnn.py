"""How fast the char-RNN trains and writes, against PyTorch's CPU ``nn.GRU`` (``nn.LSTM``,
``nn.RNN``) when installed.

Training throughput (characters per second of train steps: forward, loss, backward, gradient
clipping, Adam update) for Gorner's configuration (3 x GRU-512, seq 30, batch 200, vocab 98:
Martin Görner's TensorFlow Shakespeare char-RNN, see ``docs/kernels.md``) and a small one
(1 x GRU-256, seq 50, batch 64, vocab 65). PyTorch gets the same model: one-hot characters into
``nn.GRU`` (the same cuDNN-style gate formulation), dropout 0.2 after every
layer, one linear layer shared by all steps, mean cross-entropy, ``clip_grad_norm_(5)``, Adam
(lr 1e-3), and the same carried hidden state.

``--cell lstm`` and ``--cell rnn`` measure the other cells of the model (``scan`` loops in
plain ops, where the GRU has fused kernels) against ``nn.LSTM`` and
``nn.RNN(nonlinearity="relu")``, without dropout (the table of issue 14). ``--baseline DIR``
adds a third worker running the minigraph of another checkout (``DIR`` holds its
``minigraph/`` and ``models/``), alternating with the others, for A/B comparisons of a change.
A "GEMMs alone" worker times only the matrix products one train step needs (per layer the
recurrent products each step, forward and backward, the weight gradients, the input
projections of layers 1 and up, the output layer: ``benchmarks/gemm_bound.py``), NumPy float32
into preallocated arrays, the floor issue 14 measures the LSTM against (within 1.2x);
``--no-gemm`` leaves it out.

Each framework trains in a worker process of its own (its own thread pools and OpenMP
settings, so neither is slowed by the other's idle threads); the parent alternates between
the workers, a block of steps (>= 0.5 s, after a 0.3 s pause) each per round, so load on this
shared machine hits both alike; medians are reported and the ratio is taken within the run.
Peak memory is each worker's VmHWM. Generation: characters per second at batch 1 for the
3 x 512 model, through the compiled step alone and through `Sampler.generate` (with
sampling), against the float32 matrix-vector products that bound them, alternating in one
process (`generation_rate`). Threads are pinned (OpenBLAS, Numba, PyTorch) to each count of
``--threads`` (default: 1, then 2).

    python3 benchmarks/charrnn.py [--rounds 7] [--configs gorner,small] [--threads 1,2]
                                  [--sections train,generation] [--no-torch] [--json FILE]
                                  [--cell gru|lstm|rnn] [--baseline DIR] [--no-gemm]
"""

import os
import sys

USER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")  # minigraph sets its own on import
THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1,2"
CELL = sys.argv[sys.argv.index("--cell") + 1] if "--cell" in sys.argv else "gru"
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS.split(",")[0]  # before NumPy (and PyTorch) load their BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

# a --baseline worker imports minigraph and models from the other checkout
sys.path.insert(0, os.environ.get("MINIGRAPH_BENCH_ROOT")
                or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from models.charrnn.cli import tune_malloc  # noqa: E402
from models.charrnn.data import Vocabulary  # noqa: E402
from models.charrnn.generate import Sampler  # noqa: E402
from models.charrnn.model import CharRNN, ModelConfig  # noqa: E402

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # gemm_bound, when imported
from gemm_bound import GemmStep, gemm_flops, train_gemms  # noqa: E402

CONFIGS = {  # name: (layers, hidden, seq_len, batch, vocab)
    "gorner": (3, 512, 30, 200, 98),
    "small": (1, 256, 50, 64, 65),
}
TARGETS = {  # speed-up over PyTorch asked for, per cell and configuration
    "gru": {"gorner": 1.2, "small": 1.5}, "lstm": {"gorner": 1.0, "small": 1.0},
    "rnn": {"gorner": 1.3, "small": 1.3}}
GEMM_TARGETS = {"lstm": 1.2}  # minigraph step time / its GEMMs alone asked for (issue 14)
TORCH_NAMES = {"gru": "nn.GRU", "lstm": "nn.LSTM", "rnn": "nn.RNN(relu)"}
GATES = {"gru": 3, "lstm": 4, "rnn": 1}
DROPOUT = 0.2 if CELL == "gru" else 0.0  # the LSTM and RNN rows of issue 14: no dropout
LR, CLIP = 1e-3, 5.0


def batch_data(layers, hidden, seq_len, batch, vocab, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vocab, (batch, seq_len + 1)).astype(np.int32)
    return x[:, :-1], x[:, 1:]


def steady_state():
    """What a long training run reaches: fused elementwise kernels compiled (minigraph
    compiles them after 1e8 element-operations in NumPy, about 60 steps of the small
    configuration, so the warm-up steps would not reach it), scan loops compiled
    (``minigraph/codegen/scanloop.py``; a training run compiles them in the background after
    its first steps), and malloc as the CLI sets it."""
    from minigraph.codegen import scanloop
    from minigraph.tensor.fusion import POLICY

    POLICY.compile_after = 0
    scanloop.POLICY.compile_after_calls, scanloop.POLICY.background = 0, False
    try:  # softmax cross-entropy kernels (kernels/xent_cpu.py): compiled before timing
        from kernels import xent_cpu

        xent_cpu.warm()
    except ImportError:  # a baseline checkout without them
        pass
    tune_malloc()


def minigraph_step(name):
    """A callable running one minigraph train step of configuration `name`."""
    layers, hidden, seq_len, batch, vocab = CONFIGS[name]
    model = CharRNN(ModelConfig(vocab_size=vocab, layers=layers, hidden=hidden,
                                dropout=DROPOUT, cell=CELL), seed=0)
    train = model.compile_train("adam", LR, CLIP)
    x, y = batch_data(*CONFIGS[name])
    state = [model.initial_state(batch)]

    def step():
        loss, _, state[0] = train(x, y, state[0])
        return float(loss)

    return step


def gemm_step(name):
    """The GEMMs alone of one train step of configuration `name` (``benchmarks/gemm_bound``):
    per layer the recurrent products each step forward and backward, the weight gradients,
    the input projections of layers 1 and up, the output layer; NumPy, float32."""
    run = GemmStep(gemm_set(name))
    return lambda: run() or 0.0


def gemm_set(name):
    """The GEMMs of one train step of configuration `name` (`gemm_bound.train_gemms`)."""
    layers, hidden, seq_len, batch, vocab = CONFIGS[name]
    return train_gemms(layers, hidden, seq_len, batch, vocab, [(1, GATES[CELL])], GATES[CELL])


def torch_step(name):
    """The same model and step in PyTorch (CPU), or None when PyTorch is not installed."""
    if USER_WAIT_POLICY is None:  # PyTorch's OpenMP keeps its own default wait policy
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = USER_WAIT_POLICY
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(THREADS))
    torch.manual_seed(0)
    layers, hidden, seq_len, batch, vocab = CONFIGS[name]
    drop = DROPOUT if layers > 1 else 0.0
    if CELL == "gru":
        rnn = torch.nn.GRU(vocab, hidden, layers, dropout=drop)
    elif CELL == "lstm":
        rnn = torch.nn.LSTM(vocab, hidden, layers, dropout=drop)
    else:
        rnn = torch.nn.RNN(vocab, hidden, layers, nonlinearity="relu", dropout=drop)
    out = torch.nn.Linear(hidden, vocab)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    x, y = (torch.from_numpy(a.T.copy()).long() for a in batch_data(*CONFIGS[name]))  # (T, B)
    target = y.reshape(-1)
    zeros = torch.zeros(layers, batch, hidden)
    state = [(zeros, zeros.clone()) if CELL == "lstm" else zeros]

    def step():
        onehot = torch.nn.functional.one_hot(x, vocab).float()
        hs, h_new = rnn(onehot, state[0])
        hs = torch.nn.functional.dropout(hs, DROPOUT, training=True)
        loss = torch.nn.functional.cross_entropy(out(hs.reshape(-1, hidden)), target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        state[0] = tuple(h.detach() for h in h_new) if CELL == "lstm" else h_new.detach()
        return loss.item()

    return step


class Worker:
    """A child process that builds one framework's train step and runs it on request.

    Each framework trains in a process of its own, with its own thread pools and environment
    (PyTorch's OpenMP settings are not minigraph's), so neither slows the other down through
    threads left spinning; the parent alternates between the workers so that load on this
    shared machine hits both alike.
    """

    def __init__(self, framework, name, threads, baseline=None):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env.pop("OMP_WAIT_POLICY", None)  # each framework picks its own
        if framework == "baseline":
            env["MINIGRAPH_BENCH_ROOT"] = os.path.abspath(baseline)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker",
             "minigraph" if framework == "baseline" else framework, name,
             "--threads", str(threads), "--cell", CELL],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.ok = self._read() == "ready"

    def _read(self):
        line = self.proc.stdout.readline().strip()
        return line

    def run(self, steps):
        """Seconds per step, averaged over `steps` steps."""
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        return float(self._read())

    def close(self):
        """Stop the worker; returns its peak RSS in MB (``VmHWM``)."""
        self.proc.stdin.write("rss\n")
        self.proc.stdin.flush()
        rss = float(self._read())
        self.proc.stdin.close()
        self.proc.wait()
        return rss


def worker_main(framework, name):
    """The worker's side of `Worker`: build, warm up, then serve requests."""
    if framework != "torch":  # a started Numba pool slows PyTorch (benchmarks/custom_cell.py)
        numba.set_num_threads(int(THREADS))
    if framework == "minigraph":
        steady_state()
    step = {"minigraph": minigraph_step, "torch": torch_step, "gemm": gemm_step}[framework](name)
    if step is None:
        print("unavailable", flush=True)
        return
    for _ in range(2):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "rss":
            status = open("/proc/self/status").read()
            kb = int(status.split("VmHWM:")[1].split()[0])
            print(kb / 1024, flush=True)
            return
        n = int(line)
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        print((time.perf_counter() - t0) / n, flush=True)


def compare(name, threads, rounds, frameworks, block=0.5, pause=0.3, baseline=None):
    """Median seconds per step and peak RSS of each framework, workers alternating.

    Each round runs every worker for a block of steps (at least `block` seconds), so the
    step times of one round come from the same minute on this shared machine. Before each
    block the parent waits `pause` seconds: OpenBLAS's idle workers spin for up to ~0.1 s
    after a GEMM, and must not steal the next worker's cores.
    """
    workers = {f: Worker(f, name, threads, baseline) for f in frameworks}
    workers = {f: w for f, w in workers.items() if w.ok}
    sizes = {f: max(1, int(block / w.run(1))) for f, w in workers.items()}
    times = {f: [] for f in workers}
    for r in range(rounds):
        order = list(workers) if r % 2 == 0 else list(workers)[::-1]
        for f in order:
            time.sleep(pause)
            times[f].append(workers[f].run(sizes[f]))
    row = {f: statistics.median(v) for f, v in times.items()}
    row.update({f"{f}_rss_mb": w.close() for f, w in workers.items()})
    return row


def generation_rate(rounds=9, n=300):
    """Batch-1 generation of the 3 x 512 model: median steps per second of three loops run in
    alternating blocks of `n` steps, `rounds` times (so load on the machine hits all alike):

    * ``bound``: the five float32 matrix-vector products of a step (``W_h`` of each layer,
      ``W_x`` of layers 1 and 2) and the output layer into preallocated rows, nothing else:
      15.9 MB of weights streamed per character, what bounds any float32 implementation;
    * ``step``: the compiled generation step (`CharRNN.compile_step`), state fed back;
    * ``sampler``: `Sampler.generate` (the step, temperature 0.8, the draw, decoding).
    """
    vocab = Vocabulary.gorner()
    model = CharRNN(ModelConfig(vocab_size=len(vocab), layers=3, hidden=512), seed=0)
    sampler = Sampler(model, vocab)
    p = {k: v.get_value(borrow=True) for k, v in model.params.items()}
    mats = [p[f"l{i}/W_h"] for i in range(3)] + [p[f"l{i}/W_x"] for i in (1, 2)]
    h = np.zeros((1, 512), np.float32)
    rows = np.empty((1, 3 * 512), np.float32)
    logits = np.empty((1, len(vocab)), np.float32)

    def bound():
        for _ in range(n):
            for W in mats:
                np.matmul(h, W, out=rows)
            np.matmul(h, p["out/W"], out=logits)

    ids, state = np.array([5], dtype=np.int32), [model.initial_state(1)]

    def step():
        s = state[0]
        for _ in range(n):
            _, s = sampler.step(ids, s)
        state[0] = s

    text = sampler.generate(10**9, prime="ROMEO:", temperature=0.8, seed=1)

    def sample():
        for _ in range(n):
            next(text)

    loops = {"bound": bound, "step": step, "sampler": sample}
    for f in loops.values():  # warm-up: compiled kernels, caches
        f()
    rates = {k: [] for k in loops}
    for r in range(rounds):
        for k, f in (loops.items() if r % 2 == 0 else reversed(loops.items())):
            t0 = time.perf_counter()
            f()
            rates[k].append(n / (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in rates.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--configs", default="gorner,small")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-gemm", action="store_true",
                        help="leave out the GEMMs-alone column (its NumPy worker)")
    parser.add_argument("--threads", default="1,2",
                        help="thread counts to measure, comma-separated (default 1,2)")
    parser.add_argument("--sections", default="train,generation",
                        help="what to measure, comma-separated (default train,generation)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--cell", default="gru", choices=sorted(TORCH_NAMES),
                        help="the model's cell, against PyTorch's (default gru)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also time the minigraph of this checkout (A/B)")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CONFIG"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(*args.worker)
    frameworks = ["minigraph"] + (["baseline"] if args.baseline else []) + (
        [] if args.no_torch else ["torch"]) + ([] if args.no_gemm else ["gemm"])
    print(f"char-RNN benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; each framework trains in its own process with its thread "
          f"pools (OpenBLAS, Numba, PyTorch) pinned to the count shown; median of "
          f"{args.rounds} alternating rounds; {CELL} cell against {TORCH_NAMES[CELL]}; "
          f"dropout {DROPOUT}, Adam lr {LR}, clip {CLIP}; "
          f"load average {os.getloadavg()[0]:.2f}")
    results = {"train": {}, "generation": {}}
    sections = args.sections.split(",")
    for threads in (int(t) for t in args.threads.split(",")):
        if "train" in sections:
            rows = {name: compare(name, threads, args.rounds, frameworks,
                                  baseline=args.baseline)
                    for name in args.configs.split(",")}
            report(rows, threads)
            results["train"][threads] = rows
        if "generation" in sections and CELL == "gru":
            gen = generation_worker(threads, max(args.rounds, 9))
            report_generation(gen, threads)
            results["generation"][threads] = gen
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def generation_worker(threads, rounds):
    """`generation_rate` in a child process with `threads` threads (None when it fails)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    env.pop("OMP_WAIT_POLICY", None)
    code = (f"import sys, json; sys.argv += ['--threads', '{threads}']; "
            f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import charrnn as b, numba; numba.set_num_threads({threads}); "
            f"b.steady_state(); print(json.dumps(b.generation_rate({rounds})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env)
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.splitlines()[-1])


def report_generation(gen, threads):
    if gen is None:
        print(f"generation, {threads} thread(s): failed (see the error above)")
        return
    print(f"generation, 3 x GRU-512, batch 1, {threads} thread(s): "
          f"{gen['sampler']:,.0f} chars/s with sampling (target > 2,500), "
          f"{gen['step']:,.0f} compiled steps/s; the float32 matrix-vector products alone "
          f"{gen['bound']:,.0f}/s (step at {gen['step'] / gen['bound']:.0%} of them, "
          f"sampling at {gen['sampler'] / gen['bound']:.0%})")


def report(rows, threads):
    print(f"\n{threads} thread(s), {CELL} cell")
    base = any("baseline" in r for r in rows.values())
    gemm = any("gemm" in r for r in rows.values())
    print(f"{'config':<28} {'minigraph':>12} {'pytorch':>12} {'speed-up':>9} {'target':>7} "
          f"{'peak RSS':>9} {'(pytorch)':>10}"
          + (f" {'GEMMs alone':>12} {'/GEMMs':>7} {'target':>7} {'pt/GEMMs':>9}" if gemm else "")
          + (f" {'baseline':>12} {'vs baseline':>11} {'(RSS)':>7}" if base else ""))
    for name, r in rows.items():
        layers, hidden, seq_len, batch, vocab = CONFIGS[name]
        chars = seq_len * batch
        label = f"{name} {layers}x{hidden} T{seq_len} B{batch} V{vocab}"
        mg = f"{chars / r['minigraph']:,.0f}/s"
        pt = f"{chars / r['torch']:,.0f}/s" if "torch" in r else "n/a"
        ratio = f"{r['torch'] / r['minigraph']:.2f}x" if "torch" in r else "n/a"
        torch_rss = f"{r['torch_rss_mb']:.0f}MB" if "torch_rss_mb" in r else "n/a"
        line = (f"{label:<28} {mg:>12} {pt:>12} {ratio:>9} {TARGETS[CELL][name]:>6.1f}x "
                f"{r['minigraph_rss_mb']:>7.0f}MB {torch_rss:>10}")
        if "gemm" in r:
            target = f"{GEMM_TARGETS[CELL]:.1f}x" if CELL in GEMM_TARGETS else "-"
            pt_gemm = f"{r['torch'] / r['gemm']:.2f}x" if "torch" in r else "n/a"
            line += (f" {chars / r['gemm']:>10,.0f}/s {r['minigraph'] / r['gemm']:>6.2f}x "
                     f"{target:>7} {pt_gemm:>9}")
        if "baseline" in r:
            line += (f" {chars / r['baseline']:>10,.0f}/s {r['baseline'] / r['minigraph']:>10.2f}x"
                     f" {r['baseline_rss_mb']:>5.0f}MB")
        print(line)
    print("(chars/s of whole train steps; speed-up = PyTorch step time / minigraph step time; "
          "peak RSS (VmHWM) of each worker process, target < 500 MB"
          + ("; GEMMs alone = only the matrix products of a step, NumPy (benchmarks/gemm_bound"
             ".py: " + ", ".join(f"{name} {gemm_flops(gemm_set(name)) / 1e9:.1f}" for name in rows)
             + " GFLOP a step), /GEMMs = minigraph step time / theirs, target: at most that"
             if gemm else "")
          + ("; vs baseline = baseline step time / minigraph step time)" if base else ")"))


if __name__ == "__main__":
    sys.exit(main())
