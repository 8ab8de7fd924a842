"""How fast the char-RNN trains and writes, against PyTorch's CPU ``nn.GRU`` when installed.

Training throughput (characters per second of train steps: forward, loss, backward, gradient
clipping, Adam update) for Gorner's configuration (3 x GRU-512, seq 30, batch 200, vocab 98)
and a small one (1 x GRU-256, seq 50, batch 64, vocab 65). PyTorch gets the same model: one-hot
characters into ``nn.GRU`` (the same cuDNN-style gate formulation), dropout 0.2 after every
layer, one linear layer shared by all steps, mean cross-entropy, ``clip_grad_norm_(5)``, Adam
(lr 1e-3), and the same carried hidden state. Both step functions run interleaved, one step of
each per round, so load on this shared machine hits both alike; medians are reported and the
ratio is taken within the run. Peak memory (max RSS) of training is measured in a child
process that runs only minigraph. Generation: characters per second at batch 1 for the
3 x 512 model, through the compiled step alone and through `Sampler.generate` (with
sampling). Threads are pinned (BLAS, Numba, PyTorch) to ``--threads`` (default 1).

    python3 benchmarks/charrnn.py [--rounds 7] [--configs gorner,small] [--no-torch]
"""

import os
import sys

THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS  # before NumPy (and PyTorch) load their BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from models.charrnn.cli import tune_malloc  # noqa: E402
from models.charrnn.data import Vocabulary  # noqa: E402
from models.charrnn.generate import Sampler  # noqa: E402
from models.charrnn.model import CharRNN, ModelConfig  # noqa: E402

CONFIGS = {  # name: (layers, hidden, seq_len, batch, vocab)
    "gorner": (3, 512, 30, 200, 98),
    "small": (1, 256, 50, 64, 65),
}
TARGETS = {"gorner": 1.2, "small": 1.5}  # speed-up over PyTorch asked for
DROPOUT, LR, CLIP = 0.2, 1e-3, 5.0


def batch_data(layers, hidden, seq_len, batch, vocab, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vocab, (batch, seq_len + 1)).astype(np.int32)
    return x[:, :-1], x[:, 1:]


def steady_state():
    """What a long training run reaches: fused elementwise kernels compiled (minigraph
    compiles them after 1e8 element-operations in NumPy, about 60 steps of the small
    configuration, so the warm-up steps would not reach it), and malloc as the CLI sets it."""
    from minigraph.tensor.fusion import POLICY

    POLICY.compile_after = 0
    tune_malloc()


def minigraph_step(name):
    """A callable running one minigraph train step of configuration `name`."""
    layers, hidden, seq_len, batch, vocab = CONFIGS[name]
    model = CharRNN(ModelConfig(vocab_size=vocab, layers=layers, hidden=hidden,
                                dropout=DROPOUT), seed=0)
    train = model.compile_train("adam", LR, CLIP)
    x, y = batch_data(*CONFIGS[name])
    state = [model.initial_state(batch)]

    def step():
        loss, _, state[0] = train(x, y, state[0])
        return float(loss)

    return step


def torch_step(name):
    """The same model and step in PyTorch (CPU), or None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(THREADS))
    torch.manual_seed(0)
    layers, hidden, seq_len, batch, vocab = CONFIGS[name]
    gru = torch.nn.GRU(vocab, hidden, layers, dropout=DROPOUT if layers > 1 else 0.0)
    out = torch.nn.Linear(hidden, vocab)
    params = list(gru.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    x, y = (torch.from_numpy(a.T.copy()).long() for a in batch_data(*CONFIGS[name]))  # (T, B)
    target = y.reshape(-1)
    state = [torch.zeros(layers, batch, hidden)]

    def step():
        onehot = torch.nn.functional.one_hot(x, vocab).float()
        hs, h_new = gru(onehot, state[0])
        hs = torch.nn.functional.dropout(hs, DROPOUT, training=True)
        loss = torch.nn.functional.cross_entropy(out(hs.reshape(-1, hidden)), target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        state[0] = h_new.detach()
        return loss.item()

    return step


def interleaved(steps, rounds, warmup=2):
    """Median seconds per step of each callable in `steps`, run alternately."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in steps}
    for _ in range(rounds):
        for k, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def peak_rss_mb(name, rounds, framework="minigraph"):
    """Peak RSS of a child process that only trains `framework` on configuration `name`.

    Read from ``VmHWM`` in ``/proc/self/status``: ``ru_maxrss`` would start from the parent's
    peak, which survives fork and exec on Linux.
    """
    code = (f"import sys; sys.argv += ['--threads', '{THREADS}']; "
            f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import charrnn as b; b.steady_state(); s = b.{framework}_step({name!r}); "
            f"[s() for _ in range({rounds})]; "
            f"print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode or "VmHWM" not in done.stdout:
        return float("nan")
    return int(done.stdout.split()[-2]) / 1024  # "VmHWM:  123456 kB"


def generation_rate(n=2000):
    """(step calls per second, Sampler chars per second) at batch 1 for the 3 x 512 model."""
    vocab = Vocabulary.gorner()
    model = CharRNN(ModelConfig(vocab_size=len(vocab), layers=3, hidden=512), seed=0)
    sampler = Sampler(model, vocab)
    ids, state = np.array([5], dtype=np.int32), model.initial_state(1)
    for _ in range(20):
        sampler.step(ids, state)
    t0 = time.perf_counter()
    for _ in range(n):
        _, state = sampler.step(ids, state)
    step_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    text = "".join(sampler.generate(n, prime="ROMEO:", temperature=0.8, seed=1))
    return step_rate, len(text) / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--configs", default="gorner,small")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    numba.set_num_threads(int(THREADS))
    steady_state()
    print(f"char-RNN benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, threads pinned to {THREADS} (OpenBLAS, Numba, PyTorch); "
          f"median of {args.rounds} interleaved steps, dropout {DROPOUT}, Adam lr {LR}, "
          f"clip {CLIP}")
    rows = {}
    for name in args.configs.split(","):
        steps = {"minigraph": minigraph_step(name)}
        ref = None if args.no_torch else torch_step(name)
        if ref is not None:
            steps["pytorch"] = ref
        rows[name] = interleaved(steps, args.rounds)
        rows[name]["rss_mb"] = peak_rss_mb(name, 3)
        if ref is not None:
            rows[name]["torch_rss_mb"] = peak_rss_mb(name, 3, "torch")
    report(rows)
    step_rate, sample_rate = generation_rate()
    print(f"\ngeneration, 3 x GRU-512, batch 1: {step_rate:,.0f} steps/s (compiled step), "
          f"{sample_rate:,.0f} chars/s with sampling (target > 2,500)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"train": rows, "gen_steps_per_s": step_rate,
                       "gen_chars_per_s": sample_rate, "threads": THREADS}, f, indent=1)


def report(rows):
    print(f"\n{'config':<28} {'minigraph':>12} {'pytorch':>12} {'speed-up':>9} {'target':>7} "
          f"{'peak RSS':>9} {'(pytorch)':>10}")
    for name, r in rows.items():
        layers, hidden, seq_len, batch, vocab = CONFIGS[name]
        chars = seq_len * batch
        label = f"{name} {layers}x{hidden} T{seq_len} B{batch} V{vocab}"
        mg = f"{chars / r['minigraph']:,.0f}/s"
        pt = f"{chars / r['pytorch']:,.0f}/s" if "pytorch" in r else "n/a"
        ratio = f"{r['pytorch'] / r['minigraph']:.2f}x" if "pytorch" in r else "n/a"
        torch_rss = f"{r['torch_rss_mb']:.0f}MB" if "torch_rss_mb" in r else "n/a"
        print(f"{label:<28} {mg:>12} {pt:>12} {ratio:>9} {TARGETS[name]:>6.1f}x "
              f"{r['rss_mb']:>7.0f}MB {torch_rss:>10}")
    print("(chars/s of whole train steps; speed-up = PyTorch step time / minigraph step time; "
          "peak RSS of a child process training one framework only (both import NumPy and "
          "Numba), target < 500 MB)")


if __name__ == "__main__":
    main()
