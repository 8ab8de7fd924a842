"""Tests of :mod:`minigraph.distributed`: the AllReduce op alone, and on 2 MPI ranks.

Without MPI every collective is the identity and mpi4py is never imported (checked in a
fresh interpreter). With mpi4py and ``mpiexec``, one 2-rank job (a worker script written to
a temporary directory) trains a small hand-written softmax regression by SGD and by Adam,
each rank on half the batch, and checks it against the same model trained in one process
on the whole batch; the same job checks broadcasting, the consistency check and the
op's gradient across ranks. Jobs run in their own process group with a timeout.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph import distributed
from minigraph.gradient import verify_grad
from minigraph.graph.basic import GraphError
from minigraph.printing import debugprint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 120


def run_job(args, n=None, cwd=None, timeout=TIMEOUT):
    """Run ``python args`` (under ``mpiexec -n n -m mpi4py`` when n is given) in its own
    process group; kill that group on timeout. Returns the CompletedProcess-like triple."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    cmd = [sys.executable, *args]
    if n is not None:
        cmd = ["mpiexec", "-n", str(n), sys.executable, "-m", "mpi4py", *args]
    proc = subprocess.Popen(cmd, cwd=cwd or ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own group only
        proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not end within {timeout} s")
    return proc.returncode, out.decode(errors="replace")


def mpi_available():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'minigraph[mpi]')"
    if shutil.which("mpiexec") is None:
        return "mpiexec is not on PATH"
    return None


needs_mpi = pytest.mark.skipif(mpi_available() is not None, reason=str(mpi_available()))


# ------------------------------------------------------------------- one process


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_one_rank_is_the_identity(op, dtype):
    x, y = T.vector("x", dtype=dtype), T.matrix("y", dtype=dtype)
    a, b = distributed.all_reduce([x * 2, y], op=op)
    assert a.dtype == b.dtype == dtype
    f = theano.function([x, y], [a, b])
    xv, yv = np.arange(3, dtype=dtype), np.ones((1, 5), dtype=dtype)  # batch 1, odd size
    got = f(xv, yv)
    np.testing.assert_array_equal(got[0], xv * 2)
    np.testing.assert_array_equal(got[1], yv)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_gradient_by_finite_differences(op):
    def cost(x, y):
        a, b = distributed.all_reduce([T.tanh(x), y ** 2], op=op)
        return (a * 3).sum() + b.sum()

    rng = np.random.default_rng(0)
    verify_grad(cost, [rng.standard_normal((2, 3)), rng.standard_normal(4)], rng=rng)


def test_single_variable_and_printing():
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    g = distributed.all_reduce(theano.grad((w ** 2).sum(), w), op="mean")
    f = theano.function([], g)
    np.testing.assert_array_equal(f(), [2.0, 4.0])
    import io

    text = io.StringIO()
    debugprint(f, file=text)
    assert "AllReduce{mean}" in text.getvalue()
    from minigraph.pydot import to_graphviz

    assert "AllReduce{mean}" in to_graphviz(f).source


def test_one_flat_node_for_all_gradients():
    ws = [theano.shared(np.ones(k), name=f"w{k}") for k in (1, 2, 3)]
    grads = distributed.all_reduce(theano.grad(sum((w ** 2).sum() for w in ws), ws))
    f = theano.function([], grads)
    ops = [n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, distributed.AllReduce)]
    assert len(ops) == 1 and ops[0].n == 3
    assert [g.tolist() for g in f()] == [[2.0], [2.0, 2.0], [2.0, 2.0, 2.0]]


def test_bad_arguments_name_the_problem():
    with pytest.raises(GraphError, match="'sum' or 'mean'.*test_distributed.py"):
        distributed.all_reduce([T.vector()], op="max")
    with pytest.raises(GraphError, match="needs float tensors.*int64"):
        distributed.all_reduce([T.lvector("n")], op="mean")
    with pytest.raises(GraphError, match="numeric tensors.*bool"):
        distributed.all_reduce([T.vector("b", dtype="bool")])
    assert distributed.all_reduce([], op="sum") == []


def test_helpers_without_mpi():
    assert (distributed.size(), distributed.rank(), distributed.is_distributed()) == (1, 0, False)
    w = theano.shared(np.arange(3.0), name="w")
    distributed.broadcast_parameters([w])
    distributed.check_consistent([w])
    assert [a.tolist() for a in distributed.all_reduce_values([np.ones(2)], "mean")] == [[1, 1]]
    assert distributed.gather_object(5) == [5] and distributed.all_gather_object(5) == [5]


def test_plain_runs_never_import_mpi4py():
    code = ("import sys, numpy as np, minigraph as theano, minigraph.tensor as T\n"
            "from minigraph import distributed as d\n"
            "x = T.dvector('x')\n"
            "f = theano.function([x], d.all_reduce([x], 'mean'))\n"
            "f(np.ones(2)); d.check_consistent([np.ones(2)]); d.barrier()\n"
            "print(d.size(), 'mpi4py' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=TIMEOUT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "False"]


def test_launched_without_mpi4py_names_the_extra():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from minigraph import distributed as d\n"
            "try:\n    d.size()\nexcept d.DistributedError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=TIMEOUT, text=True,
                         env=dict(os.environ, PMI_SIZE="4"), capture_output=True)
    assert "launched as 4 MPI ranks but mpi4py is not installed" in out.stdout, out.stderr
    assert "minigraph[mpi]" in out.stdout


# --------------------------------------------------------------------- 2 ranks

WORKER = textwrap.dedent('''
    """Softmax regression trained data-parallel: argv = out_dir optimizer steps."""
    import json, sys
    import numpy as np
    import minigraph as theano, minigraph.tensor as T
    from minigraph import distributed, updates

    out, optimizer, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    W_, r = distributed.size(), distributed.rank()
    rng = np.random.default_rng(7)
    X = rng.standard_normal((steps, 8, 5))           # 8 rows a step, 8 // W on each rank
    Y = rng.integers(0, 3, (steps, 8))
    W = theano.shared(rng.standard_normal((5, 3)) * (1 + r), name="W")  # rank 1 differs...
    b = theano.shared(np.zeros(3), name="b")
    distributed.broadcast_parameters([W, b])          # ...until rank 0's values arrive
    x, y = T.dmatrix("x"), T.lvector("y")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p[T.arange(y.shape[0]), y]))
    grads = distributed.all_reduce(theano.grad(cost, [W, b]), op="mean")
    step = theano.function([x, y], cost, updates=getattr(updates, optimizer)(
        grads, [W, b], learning_rate=0.1))
    distributed.stats(reset=True)
    rows = slice(r * 8 // W_, (r + 1) * 8 // W_)
    for i in range(steps):
        step(X[i, rows], Y[i, rows])
    report = {"calls": distributed.stats()["calls"]}
    distributed.check_consistent([W, b])
    np.savez(f"{out}/{optimizer}-{W_}-{r}.npz", W=W.get_value(), b=b.get_value())
    if W_ > 1:  # a rank that drifts is caught, on every rank
        if r == 1:
            W.set_value(W.get_value() + 1e-12)
        try:
            distributed.check_consistent([W, b])
        except distributed.DistributedError as exc:
            report["diverged"] = str(exc)
        z = T.dvector("z")
        total = distributed.all_reduce([z * (r + 1)], op="sum")[0]
        report["sum"] = theano.function([z], total)(np.ones(2)).tolist()
        report["grad"] = theano.function([z], theano.grad(total.sum(), z))(np.ones(2)).tolist()
    with open(f"{out}/{optimizer}-{W_}-{r}.json", "w") as f:
        json.dump(report, f)
''')


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_match_one_process(tmp_path, optimizer):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    rc, out = run_job([str(script), str(tmp_path), optimizer, "3"])
    assert rc == 0, out
    rc, out = run_job([str(script), str(tmp_path), optimizer, "3"], n=2)
    assert rc == 0, out
    one = np.load(tmp_path / f"{optimizer}-1-0.npz")
    ranks = [np.load(tmp_path / f"{optimizer}-2-{r}.npz") for r in (0, 1)]
    for name in ("W", "b"):
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])  # bit-identical ranks
        np.testing.assert_allclose(ranks[0][name], one[name], rtol=1e-12, atol=1e-14)
    assert not np.allclose(one["W"], np.random.default_rng(7).standard_normal((5, 3)))
    reports = [json.loads((tmp_path / f"{optimizer}-2-{r}.json").read_text()) for r in (0, 1)]
    for report in reports:
        assert report["calls"] == 3  # one MPI call per step, for both parameters
        assert "ranks hold different parameters: W on rank 1" in report["diverged"]
        assert report["sum"] == [3.0, 3.0]  # 1 + 2
    # every rank's loss depends on every rank's z: d/dz_r of sum over ranks = W * (r + 1)
    assert reports[0]["grad"] == [2.0, 2.0] and reports[1]["grad"] == [4.0, 4.0]


@needs_mpi
def test_a_rank_that_raises_ends_the_job(tmp_path):
    script = tmp_path / "raises.py"
    script.write_text("import numpy as np\n"
                      "import minigraph as theano, minigraph.tensor as T\n"
                      "from minigraph import distributed\n"
                      "if distributed.rank() == 1:\n"
                      "    raise RuntimeError('rank 1 fails')\n"
                      "x = T.dvector('x')\n"
                      "theano.function([x], distributed.all_reduce([x]))(np.ones(2))\n"
                      "print('rank 0 was not stopped')\n")
    t0 = time.monotonic()
    rc, out = run_job([str(script)], n=2, timeout=60)
    assert rc != 0 and "rank 1 fails" in out and "was not stopped" not in out, out
    assert time.monotonic() - t0 < 30  # rank 0 does not wait for ever in the all-reduce
