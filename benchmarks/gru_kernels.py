"""Benchmark of the fused GRU kernels against NumPy, their GEMM floor and PyTorch.

Sections (``--sections``, default all):

* ``step``: one GRU step, forward and forward+backward, at (B, H) = (200, 512), (32, 256),
  (1, 512): NumPy reference (unfused), Numba CPU fused, the step's GEMMs alone (the floor),
  PyTorch ``GRUCell`` (input size 1, so its input GEMM is negligible).
* ``seq``: the same for a whole sequence of T = 30 steps (PyTorch ``nn.GRU``, input size 1).
* ``layer``: a whole GRU layer, input projection + recurrence, forward+backward, T=30, B=200,
  H=D=512: ours vs ``nn.GRU(512, 512)`` vs the layer's GEMMs alone.
* ``cuda``: only on a real GPU: the CUDA kernels vs ``nn.GRU`` on cuDNN.

Method: threads pinned (``--threads``, default 1: OpenBLAS, Numba and PyTorch); candidates of
one block run round-robin, ``--rounds`` times, each measurement long enough (>= 20 ms of
calls) to dwarf timer noise; the table shows median wall and process-CPU times per call and
ratios of the CPU medians (within one run, so machine load hits all candidates alike; CPU
time is only meaningful for one thread).  Run: ``python3 benchmarks/gru_kernels.py``.
"""

import argparse
import os
import sys
import time

TARGETS = """targets (2-core CPU, 1 thread): fused step fwd <= 1.2x its GEMM at B=200/H=512;
layer fwd+bwd >= 1.2x faster than nn.GRU and <= 1.15x its GEMMs; B=1/H=512 step < 80 us"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS/Numba/PyTorch threads")
    p.add_argument("--rounds", type=int, default=7, help="round-robin repeats (median)")
    p.add_argument("--min-time", type=float, default=0.02, help="seconds per measurement")
    p.add_argument("--sections", default="step,seq,layer,cuda")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    return p.parse_args()


USER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
ARGS = parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before NumPy / Numba / PyTorch load their pools
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import kernels  # noqa: E402
from kernels import gru_cpu, gru_ref  # noqa: E402

numba.set_num_threads(ARGS.threads)  # starts Numba's threads: OpenMP reads its policy now
torch = None
if not ARGS.no_torch:
    if USER_WAIT_POLICY is None:  # importing kernels made OpenMP's idle threads sleep:
        os.environ.pop("OMP_WAIT_POLICY", None)  # PyTorch's OpenMP keeps its own default
    try:
        import torch

        torch.set_num_threads(ARGS.threads)
    except ImportError:
        pass
DT = np.dtype(ARGS.dtype)
RNG = np.random.default_rng(0)


def bench(cands):
    """Median wall and CPU seconds per call of each candidate, measured round-robin.

    With several threads each measurement starts after a 0.15 s pause: OpenBLAS's idle
    workers spin for up to ~0.1 s after a GEMM and would steal the next candidate's cores.
    """
    loops = {}
    for name, f in cands.items():
        f()  # warm up (compiles)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < ARGS.min_time / 4:
            f()
            n += 1
        loops[name] = max(1, int(4 * n))
    wall = {name: [] for name in cands}
    cpu = {name: [] for name in cands}
    names = list(cands)
    for r in range(ARGS.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            f, n = cands[name], loops[name]
            if ARGS.threads > 1:
                time.sleep(0.15)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                f()
            cpu[name].append((time.process_time() - c0) / n)
            wall[name].append((time.perf_counter() - t0) / n)
    return {name: (float(np.median(wall[name])), float(np.median(cpu[name]))) for name in cands}


def fmt_time(sec):
    return f"{sec * 1e6:8.1f} us" if sec < 1e-3 else f"{sec * 1e3:8.2f} ms"


def report(title, times, floor, versus=None, basis=None):
    """One block: each candidate's median wall and CPU time, and ratios of the medians.

    Ratios use CPU time with one thread: for a single-threaded process it is less disturbed
    by other jobs on the machine than wall time (a descheduled process accrues none).  With
    more threads, and for GPU timings, they use wall time.
    """
    basis = basis or ("cpu" if ARGS.threads == 1 else "wall")
    col = 1 if basis == "cpu" else 0
    print(f"\n{title}")
    print(f"  {'':<31} {'wall':>11} {'cpu':>11}   ratios ({basis})")
    for name, t in times.items():
        line = f"  {name:<31} {fmt_time(t[0])} {fmt_time(t[1])}"
        line += f"   x{t[col] / times[floor][col]:5.2f} vs {floor}"
        if versus in times and name != versus:
            line += f",  {times[versus][col] / t[col]:5.2f}x faster than {versus}"
        print(line)


def rand(*shape, scale=1.0):
    return (scale * RNG.standard_normal(shape)).astype(DT)


def gru_params(H):
    return rand(H, 3 * H, scale=H**-0.5), rand(3 * H, scale=0.1)


def torch_rnn(cls, D, H):
    m = cls(D, H, dtype=getattr(torch, ARGS.dtype))
    return m


# ---- sections ----------------------------------------------------------------------------


def step_section(B, H):
    W, b = gru_params(H)
    gx, h, dh = rand(B, 3 * H), rand(B, H, scale=0.5), rand(B, H)
    fwd_cpu = kernels.get_kernel("gru_step_fwd", "cpu")
    bwd_cpu = kernels.get_kernel("gru_step_bwd", "cpu")
    gh, dgh, dhp = np.empty((B, 3 * H), DT), rand(B, 3 * H), np.empty((B, H), DT)
    dW = np.empty((H, 3 * H), DT)

    def ref_fb():
        _, s = gru_ref.gru_step_fwd(gx, h, W, b)
        gru_ref.gru_step_bwd(dh, h, W, s)

    def cpu_fb():
        _, s = fwd_cpu(gx, h, W, b)
        bwd_cpu(dh, h, W, s)

    def gemm_fb():
        np.matmul(h, W, out=gh)
        np.matmul(dgh, W.T, out=dhp)
        if B > gru_cpu.SMALL_BATCH:
            np.matmul(h.T, dgh, out=dW)
        else:  # an outer product: NumPy's matmul is slow there (1.2 ms at B=1), use the fast one
            gru_cpu._atb_small(h, dgh, dW)

    fwd = {"numba cpu fused": lambda: fwd_cpu(gx, h, W, b),
           "numpy reference": lambda: gru_ref.gru_step_fwd(gx, h, W, b),
           "GEMM alone": lambda: np.matmul(h, W, out=gh)}  # fmt: skip
    fb = {"numba cpu fused": cpu_fb, "numpy reference": ref_fb, "GEMMs alone": gemm_fb}
    if torch is not None:
        cell = torch_rnn(torch.nn.GRUCell, 1, H)
        tx, th = torch.tensor(rand(B, 1)), torch.tensor(h)
        tdh = torch.tensor(dh)
        fwd["torch GRUCell"] = lambda: cell(tx, th)

        def torch_fb():
            cell.zero_grad(set_to_none=True)
            th.requires_grad_(True)
            cell(tx, th).backward(tdh)
            th.requires_grad_(False)

        fb["torch GRUCell"] = torch_fb
    report(f"step forward, B={B} H={H}", bench(fwd), "GEMM alone", "torch GRUCell")
    report(f"step forward+backward, B={B} H={H}", bench(fb), "GEMMs alone", "torch GRUCell")


def seq_section(B, H, T=30):
    W, b = gru_params(H)
    gx, h0, dhs = rand(T, B, 3 * H), rand(B, H, scale=0.5), rand(T, B, H)
    fwd_cpu = kernels.get_kernel("gru_seq_fwd", "cpu")
    bwd_cpu = kernels.get_kernel("gru_seq_bwd", "cpu")
    hs, saved = fwd_cpu(gx, h0, W, b)
    gh, dhp, dgh = np.empty((B, 3 * H), DT), np.empty((B, H), DT), rand(T * B, 3 * H)
    dW = np.empty((H, 3 * H), DT)
    hprev = hs.reshape(T * B, H)

    def gemms(backward):
        for t in range(T):
            np.matmul(hs[t], W, out=gh)
        if backward:
            for t in range(T):
                np.matmul(dgh[t * B : (t + 1) * B], W.T, out=dhp)
            np.matmul(hprev.T, dgh, out=dW)

    def fb(fwd, bwd):
        def run():
            out, s = fwd(gx, h0, W, b)
            bwd(dhs, h0, out, W, s)

        return run

    fwd = {"numba cpu fused": lambda: fwd_cpu(gx, h0, W, b),
           "numpy reference": lambda: gru_ref.gru_seq_fwd(gx, h0, W, b),
           "GEMMs alone": lambda: gemms(False)}  # fmt: skip
    both = {"numba cpu fused": fb(fwd_cpu, bwd_cpu),
            "numpy reference": fb(gru_ref.gru_seq_fwd, gru_ref.gru_seq_bwd),
            "GEMMs alone": lambda: gemms(True)}  # fmt: skip
    if torch is not None:
        gru = torch_rnn(torch.nn.GRU, 1, H)
        tx, th0, tdhs = torch.tensor(rand(T, B, 1)), torch.tensor(h0[None]), torch.tensor(dhs)
        fwd["torch nn.GRU"] = lambda: gru(tx, th0)

        def torch_fb():
            gru.zero_grad(set_to_none=True)
            th0.requires_grad_(True)
            gru(tx, th0)[0].backward(tdhs)
            th0.requires_grad_(False)

        both["torch nn.GRU"] = torch_fb
    report(f"sequence forward, T={T} B={B} H={H}", bench(fwd), "GEMMs alone", "torch nn.GRU")
    report(f"sequence fwd+bwd, T={T} B={B} H={H}", bench(both), "GEMMs alone", "torch nn.GRU")


def layer_section(T=30, B=200, H=512, D=512):
    W_x, b_x = rand(D, 3 * H, scale=D**-0.5), rand(3 * H, scale=0.1)
    W_h, b_h = gru_params(H)
    X, h0, dhs = rand(T, B, D), rand(B, H, scale=0.5), rand(T, B, H)
    X2 = X.reshape(T * B, D)
    fwd_cpu = kernels.get_kernel("gru_seq_fwd", "cpu")
    bwd_cpu = kernels.get_kernel("gru_seq_bwd", "cpu")

    def ours():
        gx = X2 @ W_x
        gx += b_x
        hs, saved = fwd_cpu(gx.reshape(T, B, 3 * H), h0, W_h, b_h)
        dgx, dh0, dW_h, db_h = bwd_cpu(dhs, h0, hs, W_h, saved)
        dgx2 = dgx.reshape(T * B, 3 * H)
        return dgx2 @ W_x.T, X2.T @ dgx2, dgx2.sum(0), dh0, dW_h, db_h

    gx, dgx = np.empty((T * B, 3 * H), DT), rand(T * B, 3 * H)
    hs = rand(T, B, H)
    gh, dhp, dW_h = np.empty((B, 3 * H), DT), np.empty((B, H), DT), np.empty((H, 3 * H), DT)
    dX, dW_x = np.empty((T * B, D), DT), np.empty((D, 3 * H), DT)

    def gemms():
        np.matmul(X2, W_x, out=gx)
        for t in range(T):
            np.matmul(hs[t], W_h, out=gh)
        for t in range(T):
            np.matmul(dgx[t * B : (t + 1) * B], W_h.T, out=dhp)
        np.matmul(hs.reshape(T * B, H).T, dgx, out=dW_h)
        np.matmul(dgx, W_x.T, out=dX)
        np.matmul(X2.T, dgx, out=dW_x)

    cands = {"numba cpu fused": ours, "GEMMs alone": gemms}
    if torch is not None:
        gru = torch_rnn(torch.nn.GRU, D, H)
        tx, th0, tdhs = torch.tensor(X), torch.tensor(h0[None]), torch.tensor(dhs)

        def torch_fb():
            gru.zero_grad(set_to_none=True)
            tx.requires_grad_(True)
            th0.requires_grad_(True)
            gru(tx, th0)[0].backward(tdhs)
            tx.requires_grad_(False)
            th0.requires_grad_(False)

        cands["torch nn.GRU"] = torch_fb
    title = f"GRU layer fwd+bwd (input GEMM + recurrence + all grads), T={T} B={B} H=D={H}"
    report(title, bench(cands), "GEMMs alone", "torch nn.GRU")


def cuda_section(T=30, H=512):
    if kernels.cuda_available() != "real":
        print("\ncuda: skipped (no real GPU; the simulator is not benchmarked)")
        return
    from kernels import gru_cuda

    for B in (1, 32, 200):
        W, b = gru_params(H)
        gx, h0, dhs = rand(T, B, 3 * H), rand(B, H, scale=0.5), rand(T, B, H)
        cands = {}
        for mode in ("persistent", "per_step"):

            def run(mode=mode):
                hs, s = gru_cuda.gru_seq_fwd(gx, h0, W, b, seq_mode=mode)
                gru_cuda.gru_seq_bwd(dhs, h0, hs, W, s, seq_mode=mode)

            cands[f"numba cuda {mode} (+copies)"] = run
        if torch is not None and torch.cuda.is_available():
            gru = torch_rnn(torch.nn.GRU, 1, H).cuda()
            tx = torch.tensor(rand(T, B, 1)).cuda()
            th0 = torch.tensor(h0[None]).cuda().requires_grad_(True)
            tdhs = torch.tensor(dhs).cuda()

            def cudnn():
                gru.zero_grad(set_to_none=True)
                gru(tx, th0)[0].backward(tdhs)
                torch.cuda.synchronize()

            cands["torch nn.GRU cuDNN"] = cudnn
        floor = "torch nn.GRU cuDNN" if "torch nn.GRU cuDNN" in cands else next(iter(cands))
        title = f"CUDA sequence fwd+bwd, T={T} B={B} H={H}"
        report(title, bench(cands), floor, basis="wall")


def main():
    blas = os.environ.get("OPENBLAS_NUM_THREADS")
    print(f"threads: OpenBLAS={blas} numba={numba.get_num_threads()} "
          f"torch={torch.get_num_threads() if torch else '-'}; dtype={DT.name}; "
          f"rounds={ARGS.rounds}; torch {torch.__version__ if torch else 'not installed'}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(TARGETS)
    sections = ARGS.sections.split(",")
    if "step" in sections:
        for B, H in ((200, 512), (32, 256), (1, 512)):
            step_section(B, H)
    if "seq" in sections:
        for B, H in ((200, 512), (32, 256), (1, 512)):
            seq_section(B, H)
    if "layer" in sections:
        layer_section()
    if "cuda" in sections:
        cuda_section()
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
