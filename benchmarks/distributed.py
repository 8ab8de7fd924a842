"""Data-parallel char-RNN training on 1 and 2 local MPI ranks, and what the all-reduce costs.

For one model configuration (default: 1 x GRU-256, seq 50, batch 32 per rank, vocab 65,
Adam, clip 5, dropout 0.2, float32), each rank trains on its own rows with one thread
(OpenBLAS and Numba), the gradients, loss and accuracy averaged in one all-reduce per step
(`minigraph.distributed.all_reduce`, as ``models/charrnn/train.py`` does). Reported: steps/s
and chars/s (all ranks together) for 1 and 2 ranks, the share of a 2-rank step spent inside
the all-reduce (waiting for the slower rank included), and the bytes all-reduced per step.
Then the all-reduce alone: float32 buffers of a few sizes between 2 ranks, time per call and
bandwidth (``bytes / time``, and the ring "bus" bandwidth ``2 (W-1)/W bytes / time``).

Finally, on paper, the step time and throughput on W machines from the measured 1-rank step
time and an all-reduce cost model, ring all-reduce: ``t(W) = 2 (W-1) * latency + 2 (W-1)/W
* bytes / bandwidth``, with the bandwidth measured here (shared memory, one machine) and with
a 10 Gb/s and a 100 Gb/s network. Each launch is ``mpiexec -n W python -m mpi4py`` on this
script; 1- and 2-rank launches alternate for ``--rounds`` rounds and medians are reported.

    python3 benchmarks/distributed.py [--rounds 3] [--steps 20] [--config small|gorner]
                                      [--json FILE]
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per rank, before NumPy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
CONFIGS = {  # name: (layers, hidden, seq_len, batch per rank, vocab)
    "small": (1, 256, 50, 32, 65),
    "gorner": (3, 512, 30, 100, 98),
}
SIZES = (8, 64 << 10, 1 << 20, 4 << 20, 16 << 20)  # all-reduce buffer sizes, bytes
NETWORKS = {"10 Gb/s Ethernet": (1.25e9, 30e-6), "100 Gb/s InfiniBand": (12.5e9, 3e-6)}


# ------------------------------------------------------------------------- workers


def train_worker(config, steps, out):
    """Train `steps` steps after two warm-up steps; rank 0 writes timings to `out`."""
    import numpy as np

    from minigraph import distributed
    from models.charrnn.model import CharRNN, ModelConfig

    layers, hidden, seq_len, batch, vocab = CONFIGS[config]
    model = CharRNN(ModelConfig(vocab_size=vocab, layers=layers, hidden=hidden, dropout=0.2),
                    seed=0)
    reduce = ((lambda ts: distributed.all_reduce(ts, op="mean"))
              if distributed.is_distributed() else None)
    train = model.compile_train("adam", 1e-3, 5.0, 0.0, reduce=reduce)
    distributed.broadcast_parameters(list(model.params.values()))
    rng = np.random.default_rng(distributed.rank())
    data = rng.integers(0, vocab, (batch, seq_len + 1)).astype(np.int32)
    x, y, state = data[:, :-1], data[:, 1:], model.initial_state(batch)
    for _ in range(2):  # compile and warm the caches
        _, _, state = train(x, y, state)
    distributed.barrier()
    distributed.stats(reset=True)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        _, _, state = train(x, y, state)
        times.append(time.perf_counter() - t0)
    s = distributed.stats()
    result = {"world": distributed.size(), "step_s": statistics.median(times),
              "total_s": sum(times), "reduce_s": s["seconds"], "calls": s["calls"],
              "bytes_per_step": s["bytes"] / max(s["calls"], 1),
              "chars_per_step": batch * seq_len * distributed.size(),
              "grad_bytes": 4 * model.n_params()}
    shares = distributed.gather_object(result)
    if distributed.rank() == 0:
        result["reduce_share"] = max(r["reduce_s"] / r["total_s"] for r in shares)
        result["step_s"] = max(r["step_s"] for r in shares)  # the slowest rank sets the pace
        with open(out, "w") as f:
            json.dump(result, f)


def bandwidth_worker(out, repeats=20):
    """Time float32 all-reduces of each size in `SIZES` (median of `repeats`)."""
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rows = []
    for nbytes in SIZES:
        buf = np.ones(nbytes // 4, dtype=np.float32)
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)  # warm up
        times = []
        for _ in range(repeats):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            times.append(time.perf_counter() - t0)
        times = comm.allreduce(statistics.median(times), op=MPI.MAX)
        rows.append({"bytes": nbytes, "seconds": times})
    if comm.Get_rank() == 0:
        with open(out, "w") as f:
            json.dump(rows, f)


# -------------------------------------------------------------------------- driver


def launch(n, args, timeout=300):
    """Run this script as `n` ranks; kill the job's process group if it overruns."""
    cmd = ["mpiexec", "-n", str(n), sys.executable, "-m", "mpi4py", os.path.abspath(__file__),
           *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    try:
        if proc.wait(timeout=timeout) != 0:
            sys.exit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        sys.exit(f"{' '.join(cmd)} did not finish within {timeout} s")


def measure(args, tmp):
    runs = {1: [], 2: []}
    for r in range(args.rounds):
        for n in (1, 2) if r % 2 == 0 else (2, 1):  # alternate, so load hits both alike
            out = os.path.join(tmp, f"train-{n}-{r}.json")
            launch(n, ["--worker", "train", args.config, str(args.steps), out])
            with open(out) as f:
                runs[n].append(json.load(f))
    bw_out = os.path.join(tmp, "bandwidth.json")
    launch(2, ["--worker", "bandwidth", bw_out])
    with open(bw_out) as f:
        bandwidth = json.load(f)
    return runs, bandwidth


def summarize(runs):
    rows = {}
    for n, rs in runs.items():
        step = statistics.median(r["step_s"] for r in rs)
        rows[n] = {"step_s": step, "steps_per_s": 1 / step,
                   "chars_per_s": rs[0]["chars_per_step"] / step,
                   "reduce_share": statistics.median(r.get("reduce_share", 0) for r in rs),
                   "bytes_per_step": rs[0]["bytes_per_step"], "grad_bytes": rs[0]["grad_bytes"]}
    return rows


def project(step_s, nbytes, chars_per_step, bandwidth, latency, worlds=(1, 2, 8, 64)):
    """(W, step seconds, chars/s, efficiency) on W machines, ring all-reduce model;
    `chars_per_step` is one rank's (its batch times the sequence length)."""
    out = []
    for w in worlds:
        reduce_s = 0.0 if w == 1 else 2 * (w - 1) * latency + 2 * (w - 1) / w * nbytes / bandwidth
        t = step_s + reduce_s
        out.append((w, t, w * chars_per_step / t, step_s / t))
    return out


def report(rows, bandwidth, config):
    layers, hidden, seq_len, batch, vocab = CONFIGS[config]
    print(f"\nchar-RNN {layers} x GRU-{hidden}, seq {seq_len}, batch {batch} per rank, vocab "
          f"{vocab}, Adam, float32; 1 thread per rank")
    print("| ranks | steps/s | chars/s | all-reduce share of a step | bytes all-reduced/step |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n, r in rows.items():
        share = f"{r['reduce_share']:.1%}" if n > 1 else "-"
        moved = f"{r['bytes_per_step']:,.0f}" if n > 1 else "-"
        print(f"| {n} | {r['steps_per_s']:.2f} | {r['chars_per_s']:,.0f} | {share} | {moved} |")
    print("\nfloat32 all-reduce between 2 local ranks (median call)")
    print("| size | time | bytes/time | ring bus bandwidth |")
    print("| ---: | ---: | ---: | ---: |")
    for b in bandwidth:
        bw = b["bytes"] / b["seconds"]
        print(f"| {_size(b['bytes'])} | {b['seconds'] * 1e3:.3f} ms | {bw / 1e9:.2f} GB/s "
              f"| {bw * 2 * (2 - 1) / 2 / 1e9:.2f} GB/s |")
    nbytes = rows[2]["bytes_per_step"] or rows[1]["grad_bytes"]
    local = max(b["bytes"] / b["seconds"] for b in bandwidth)
    latency = min(b["seconds"] for b in bandwidth) / 2  # an 8-byte call: 2 (W-1) latencies
    nets = {"measured here": (local, latency), **NETWORKS}
    print(f"\non paper: {nbytes / 1e6:.2f} MB all-reduced per step, 1-rank step "
          f"{rows[1]['step_s'] * 1e3:.1f} ms (ring all-reduce: 2(W-1)/W of the bytes, "
          f"2(W-1) latencies)")
    print("| network (bandwidth, latency) | W | step | chars/s | efficiency |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (bw, lat) in nets.items():
        for w, t, cps, eff in project(rows[1]["step_s"], nbytes, batch * seq_len, bw, lat):
            print(f"| {name} ({bw / 1e9:.2f} GB/s, {lat * 1e6:.3g} us) | {w} | {t * 1e3:.1f} ms "
                  f"| {cps:,.0f} | {eff:.0%} |")


def _size(nbytes):
    return f"{nbytes / 2**20:g} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:g} KiB" \
        if nbytes >= 2**10 else f"{nbytes} B"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        return train_worker(rest[0], int(rest[1]), rest[2]) if kind == "train" \
            else bandwidth_worker(rest[0])
    if shutil.which("mpiexec") is None:
        sys.exit("mpiexec not found: pip install 'minigraph[mpi]'")
    tmp = tempfile.mkdtemp(prefix="mg-dist-bench-")
    try:
        runs, bandwidth = measure(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = summarize(runs)
    report(rows, bandwidth, args.config)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "bandwidth": bandwidth, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
