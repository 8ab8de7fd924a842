"""Per-call overhead of compiled functions, and compile time (targets: 15 us + 1 us per node
per call; 0.2 s to compile a 200-node graph).

Per call: a compiled function on tiny inputs (so the arithmetic costs almost nothing) for a
1-node graph (``x + y``) and a 30-node elementwise chain, against the same NumPy expression
written out as straight-line code. The overhead is the difference; the per-node cost is the
growth of the overhead from 1 to 30 nodes. Rows are given for ``FAST_RUN`` (all rewrites)
and ``FAST_COMPILE`` (merge only, so the chain keeps its 30 nodes whatever fusion does),
with ``f.trust_input = True`` (no input checks), and for the linker's generated code alone
(``f._linked.run``: the node callables without the call wrapper).

Compile time: an MLP (``--layers`` tanh layers, softmax, cross-entropy, L2 penalty), its
gradient and SGD updates, about 200 nodes; ``function(...)`` is timed per mode, the graph
building and ``grad`` separately.

Threads are pinned to 1 (BLAS, OpenMP, Numba) before NumPy is imported. Every number is the
median of ``--repeat`` runs; compare numbers within one run (the machine is shared)::

    python3 benchmarks/function_overhead.py [--repeat 7] [--number 3000] [--size 10]
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy (and Numba) are imported, or it is too late

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402
from minigraph.graph.basic import toposort  # noqa: E402
from minigraph.updates import sgd  # noqa: E402

#: the chain's steps, cycled: (minigraph, NumPy source)
CHAIN = [(lambda z, x, y: z * y, "z = z * y"),
         (lambda z, x, y: z + x, "z = z + x"),
         (lambda z, x, y: T.tanh(z), "z = np.tanh(z)")]


def per_call_us(cases, args, number, repeat):
    """{name: median per-call microseconds} for ``cases`` = {name: fn}.

    The cases take turns inside every run, so a burst of load from other processes hits
    them all alike and the ratios stay meaningful on a shared machine.
    """
    for fn in cases.values():
        fn(*args)  # warm-up
    samples = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(number):
                fn(*args)
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(t) * 1e6 for name, t in samples.items()}


def chain(n_nodes):
    """``(inputs, output, numpy_function)`` for an elementwise chain of ``n_nodes`` ops."""
    x, y = T.dvector("x"), T.dvector("y")
    z, lines = x, []
    for k in range(n_nodes):
        build, src = CHAIN[k % len(CHAIN)] if n_nodes > 1 else (lambda z, x, y: x + y,
                                                                "z = x + y")
        z = build(z, x, y)
        lines.append(src)
    source = "def np_fn(x, y):\n    z = x\n" + "".join(f"    {s}\n" for s in lines) + \
        "    return z\n"
    env = {"np": np}
    exec(source, env)  # straight-line NumPy, as fair a baseline as the generated code
    return [x, y], z, env["np_fn"]


def overhead_rows(args):
    """Per-call rows: (label, mode, nodes, minigraph us, numpy us)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(args.size), rng.standard_normal(args.size)
    rows = []
    for n in (1, 30):
        ins, out, np_fn = chain(n)
        cases, nodes = {"numpy": np_fn}, {}
        for mode in ("FAST_RUN", "FAST_COMPILE"):
            f = theano.function(ins, out, mode=mode)
            np.testing.assert_allclose(f(a, b), np_fn(a, b), rtol=1e-12)
            trusting = theano.function(ins, out, mode=mode)
            trusting.trust_input = True
            cases[(f"{n}-node", mode)], cases[(f"{n}-node trust_input", mode)] = f, trusting
            # the linker's generated function alone: the node callables, no call wrapper
            cases[(f"{n}-node generated code", mode)] = f._linked.run
            nodes[mode] = len(f._linked.order)
        times = per_call_us(cases, (a, b), args.number, args.repeat)
        for key, t in times.items():
            if key != "numpy":
                rows.append((key[0], key[1], nodes[key[1]], t, times["numpy"]))
    return rows


def print_overhead(rows):
    print(f"{'graph':22s} {'mode':13s} {'nodes':>5s} {'minigraph us':>12s} "
          f"{'numpy us':>9s} {'overhead us':>11s} {'target us':>9s}")
    for label, mode, nodes, t_mg, t_np in rows:
        target = "" if " " in label else f"< {15 + nodes}"
        print(f"{label:22s} {mode:13s} {nodes:5d} {t_mg:12.2f} {t_np:9.2f} "
              f"{t_mg - t_np:11.2f} {target:>9s}")
    by_key = {(label, mode): (nodes, t_mg - t_np) for label, mode, nodes, t_mg, t_np in rows}
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        (n1, o1), (n30, o30) = by_key[("1-node", mode)], by_key[("30-node", mode)]
        if n30 > n1:
            print(f"per node ({mode}): {(o30 - o1) / (n30 - n1):.3f} us (target < 1 us)")
        else:
            print(f"per node ({mode}): n/a, the chain was rewritten to {n30} node(s)")


def mlp(layers, width=32, n_in=20, n_out=10, seed=0):
    """``(inputs, cost, updates)``: an MLP classifier with its SGD updates."""
    rng = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.ivector("y")
    sizes = [n_in] + [width] * layers + [n_out]
    params, h = [], x
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = theano.shared(0.1 * rng.standard_normal((m, n)), name=f"W{i}")
        b = theano.shared(np.zeros(n), name=f"b{i}")
        params += [W, b]
        z = T.dot(h, W) + b
        h = T.tanh(z) if i < len(sizes) - 2 else T.nnet.softmax(z)
    penalty = sum(T.sum(W ** 2) for W in params[::2])
    cost = T.mean(T.nnet.categorical_crossentropy(h, y)) + 1e-4 * penalty
    return [x, y], cost, sgd(cost, params, learning_rate=0.1)


def compile_rows(args):
    """Compile-time rows: (what, nodes before, nodes after, median seconds)."""
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        ins, cost, updates = mlp(args.layers)
        times.append(time.perf_counter() - start)
    n_graph = len(toposort([cost] + list(updates.values())))
    rows = [("build graph + grad + sgd", n_graph, None, statistics.median(times))]
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            f = theano.function(ins, cost, updates=updates, mode=mode)
            times.append(time.perf_counter() - start)
        rows.append((f"function() {mode}", n_graph, len(f._linked.order),
                     statistics.median(times)))
    return rows


def print_compile(rows):
    print(f"\n{'compile: MLP + grad + SGD':30s} {'nodes':>6s} {'linked':>7s} {'ms':>8s} "
          f"{'target':>8s}")
    for what, n_before, n_after, sec in rows:
        linked = "" if n_after is None else str(n_after)
        target = "< 200" if what.startswith("function") else ""
        print(f"{what:30s} {n_before:6d} {linked:>7s} {1e3 * sec:8.1f} {target:>8s}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per number (median)")
    parser.add_argument("--number", type=int, default=3000, help="calls per run")
    parser.add_argument("--size", type=int, default=10, help="length of the input vectors")
    parser.add_argument("--layers", type=int, default=6, help="hidden layers of the MLP")
    args = parser.parse_args(argv)
    passes = [p.name for p in theano.compile.mode.FAST_RUN.pipeline()]
    print(f"python {platform.python_version()}, numpy {np.__version__}, threads pinned to 1 "
          f"(OPENBLAS/OMP/MKL/NUMBA_NUM_THREADS), inputs float64[{args.size}], median of "
          f"{args.repeat} runs x {args.number} calls")
    print(f"FAST_RUN passes: {', '.join(passes)}\n")
    print_overhead(overhead_rows(args))
    print_compile(compile_rows(args))


if __name__ == "__main__":
    main()
