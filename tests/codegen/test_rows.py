"""Tests of minigraph.codegen.rows: consecutive loop nests of a step merged into one pass
over their rows only when every nest reads and writes the group's arrays at its own row, and
the merged body computes exactly what the nests computed one after the other.

The unit tests run hand-written step bodies (the shape of what ``codegen/templates.py``
emits) as plain Python, before and after :func:`fuse_rows`, on fresh random arrays; the
last test checks that the loops of an LSTM written in plain ops are merged and still equal
the interpreted loop.
"""

import re

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.codegen import runtime
from minigraph.codegen.rows import accesses, fuse_rows

from .loops import assert_same, both, scans, states, var

IND = " " * 8  # the step's top level in a generated loop (``for t`` in ``scan_loop``)


def _nests(body):
    """``(start, end, ivar, extent)`` of the top-level ``for`` nests of ``body`` (what
    ``Emitter.loop_over``/``close`` record)."""
    out = []
    for k, ln in enumerate(body):
        m = re.fullmatch(IND + r"for (\w+) in range\((.*)\):", ln)
        if m:
            end = k + 1
            while end < len(body) and body[end].startswith(IND + " "):
                end += 1
            out.append((k, end, m.group(1), m.group(2)))
    return out


def _body(text):
    return [IND + ln for ln in text.strip("\n").split("\n")]


def _run(body, arrays):
    """Run ``body`` as a function of ``arrays`` (copies); return the arrays after it."""
    env = {k: v.copy() for k, v in arrays.items()}
    src = "def step(" + ", ".join(env) + "):\n" + "\n".join(ln[4:] for ln in body) + \
        "\n    return " + ", ".join(env) + ",\n"
    ns = {"np": np, "_rt": runtime}
    exec(compile(src, "<step>", "exec"), ns)
    return dict(zip(env, ns["step"](*env.values())))


def _fused(text, rng, shapes):
    """``(passes, fused body)`` of ``text``, after checking that both bodies give the same
    arrays on random inputs of ``shapes``."""
    body = _body(text)
    nests = _nests(body)
    out, passes = fuse_rows(body, nests)
    arrays = {k: rng.normal(size=s) for k, s in shapes.items()}
    ref, got = _run(body, arrays), _run(out, arrays)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    assert passes <= len(nests)
    return passes, out


SHAPES = {"a": (5, 3), "b": (5, 3), "c": (5, 3), "s": (3,)}
FIRST = """
n_1 = a.shape[0]
n_2 = a.shape[1]
for i_1 in range(n_1):
    for i_2 in range(n_2):
        b[i_1, i_2] = a[i_1, i_2] * 2.0 + 1.0
"""


def test_nests_over_the_same_rows_become_one_pass(rng):
    passes, out = _fused(FIRST + """
_rt.same(c.shape[0], n_1)
for i_3 in range(c.shape[0]):
    v_1 = np.tanh(a[i_3, 0])
    for i_4 in range(n_2):
        c[i_3, i_4] = b[i_3, i_4] * v_1 - a[i_3, i_4]
""", rng, SHAPES)
    assert passes == 1
    assert sum(ln.lstrip().startswith("for i_1 ") for ln in out) == 1
    assert not any("i_3" in ln for ln in out)  # the second nest runs on the first's row index
    # the size check moved above the merged loop
    assert out.index(IND + "_rt.same(c.shape[0], n_1)") < out.index(IND + "for i_1 in range(n_1):")


@pytest.mark.parametrize("read", ["b[i_3 - 1, i_4]", "b[n_1 - 1 - i_3, i_4]", "b[i_4, i_3]",
                                  "b[0, i_4]"])
def test_a_read_off_the_own_row_keeps_the_nests_apart(rng, read):
    shapes = dict(SHAPES, a=(4, 4), b=(4, 4), c=(4, 4))
    passes, _ = _fused(FIRST + f"""
for i_3 in range(n_1):
    for i_4 in range(n_2):
        c[i_3, i_4] = {read} + a[i_3, i_4]
""", rng, shapes)
    assert passes == 2


def test_a_write_off_the_own_row_or_a_crossing_scalar_keeps_the_nests_apart(rng):
    reduction = FIRST + """
for i_3 in range(n_1):
    for i_4 in range(n_2):
        s[i_4] += b[i_3, i_4]
"""
    assert _fused(reduction, rng, SHAPES)[0] == 2
    # a nest that reads the sums after the reduction nest must not run inside its rows
    first_reduces = """
n_1 = a.shape[0]
n_2 = a.shape[1]
for i_1 in range(n_1):
    for i_2 in range(n_2):
        s[i_2] += a[i_1, i_2]
for i_3 in range(n_1):
    for i_4 in range(n_2):
        c[i_3, i_4] = a[i_3, i_4] * s[i_4]
"""
    assert _fused(first_reduces, rng, SHAPES)[0] == 2
    scalar = """
n_1 = a.shape[0]
for i_1 in range(n_1):
    v_1 = a[i_1, 0]
    b[i_1, 0] = v_1
for i_3 in range(n_1):
    c[i_3, 0] = b[i_3, 0] + v_1
"""
    assert _fused(scalar, rng, SHAPES)[0] == 2


def test_a_statement_using_a_group_array_ends_the_group(rng):
    # np.negative(b, b) changes b between the nests: it must not move above the first
    passes, out = _fused(FIRST + """
np.negative(b, b)
for i_3 in range(n_1):
    for i_4 in range(n_2):
        c[i_3, i_4] = b[i_3, i_4] + 1.0
""", rng, SHAPES)
    assert passes == 2
    # extents not known to be equal: no merge either
    assert _fused(FIRST + """
for i_3 in range(c.shape[0]):
    for i_4 in range(n_2):
        c[i_3, i_4] = b[i_3, i_4] + 1.0
""", rng, SHAPES)[0] == 2


def test_accesses_reads_nested_subscripts_and_skips_shapes():
    got = accesses("y0[t, i_1, np.uintp(0 + lo_2 * 1 + i_3)] = g[i_1, a.shape[1] - 1] * k[j]")
    assert got == [("y0", ["t", "i_1", "np.uintp(0 + lo_2 * 1 + i_3)"], True),
                   ("g", ["i_1", "a.shape[1] - 1"], False), ("k", ["j"], False)]


def test_row_fusion_is_off_by_default(eager, rng):
    x, h0 = var("x", 3), var("h0", 2)
    hs, _ = theano.scan(lambda x_t, h: T.tanh(x_t + h) * 0.5 + x_t, sequences=x,
                        outputs_info=h0)
    f = theano.function([x, h0], hs)
    (ref, _), (got, _) = both(f, [rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 4))])
    assert_same(ref, got, "float64")
    src = scans(f)[0]._codegen.source
    assert re.search(r"# row fusion \(codegen/rows.py\): off, \d+ loop nests", src)
    assert "prange" not in src


def _passes(op):
    m = re.search(r"# row fusion \(codegen/rows.py\): (\d+) loop nests in (\d+) passes",
                  op._codegen.source)
    return int(m.group(1)), int(m.group(2))


def test_prange_only_where_rows_are_independent():
    body = _body(FIRST + """
for i_3 in range(n_1):
    v_1 = a[i_3, 0]
    for i_4 in range(n_2):
        s[i_4] += b[i_3, i_4] * v_1
c[0, 0] = v_1
""")
    out, passes = fuse_rows(body, _nests(body), parallel=True)
    assert passes == 2
    heads = [ln.strip() for ln in out if ln.startswith(IND + "for ")]
    # the reduction (and its scalar read after the loop) stays serial
    assert heads == ["for i_1 in numba.prange(n_1):", "for i_3 in range(n_1):"]


@pytest.mark.parametrize("dtype,parallel", [("float64", False), ("float32", False),
                                            ("float64", True)])
def test_an_lstm_step_runs_its_elementwise_regions_in_one_pass(eager, rng, dtype, parallel,
                                                               monkeypatch):
    monkeypatch.setattr(eager, "row_fusion", True)  # off by default (LoopPolicy)
    if parallel:  # prange passes whatever the sizes and thread count
        monkeypatch.setattr(eager, "parallel_min_elements", 0)
    H, B, D, T_ = 5, 3, 4, 6
    x, h0, c0, W, U, b = var("x", 3, dtype), var("h0", 2, dtype), var("c0", 2, dtype), \
        var("W", 2, dtype), var("U", 2, dtype), var("b", 1, dtype)
    sig = T.nnet.sigmoid

    def step(x_t, h, c, W, U, b):
        g = T.dot(x_t, W) + T.dot(h, U) + b
        c = sig(g[:, H:2 * H]) * c + sig(g[:, :H]) * T.tanh(g[:, 2 * H:3 * H])
        return [sig(g[:, 3 * H:]) * T.tanh(c), c]

    (hs, cs), _ = theano.scan(step, sequences=x, outputs_info=[h0, c0],
                              non_sequences=[W, U, b])
    ins = [x, h0, c0, W, U, b]
    f = theano.function(ins, [hs, cs] + theano.grad((hs ** 2).sum() + cs.sum(), ins))
    args = [(rng.normal(size=s) * 0.5).astype(dtype) for s in
            [(T_, B, D), (B, H), (B, H), (D, 4 * H), (H, 4 * H), (4 * H,)]]
    (ref, _), (got, _) = both(f, args)
    assert set(states(f)) == {"compiled"}, states(f)
    assert_same(ref, got, dtype)
    forward = [_passes(op) for op in scans(f)]
    # forward: the bias add and the cell's region share the batch rows
    assert any(passes < nests for nests, passes in forward), forward
    assert all(("numba.prange(" in op._codegen.source) == parallel for op in scans(f))


PROBE = """
import sys
import numpy as np
from minigraph.codegen import scanloop
from models.charrnn.model import CharRNN, ModelConfig
scanloop.POLICY.compile_after_calls, scanloop.POLICY.background = 0, False
scanloop.POLICY.row_fusion, scanloop.POLICY.parallel_min_elements = True, 0
scanloop.POLICY.enabled = sys.argv[1] == "compiled"
model = CharRNN(ModelConfig(vocab_size=5, cell="lstm", layers=2, hidden=8, dropout=0.0,
                            dtype="float64"), 0)
train = model.compile_train(learning_rate=0.05)
rng = np.random.default_rng(0)
x = rng.integers(0, 5, (3, 6)).astype(np.int32)
state = model.initial_state(3)
for _ in range(4):
    loss, _, state = train(x, (x + 1) % 5, state)
    print(repr(float(loss)))
print(sorted(set(scanloop.loop_report())))
"""


def test_prange_loops_train_the_lstm_charrnn_as_the_interpreted_ones():
    """In a process of its own: the gradient loop's swapped carry buffers once corrupted
    the heap inside a parfor (``_Group.lines``), which killed the process at this size."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, MALLOC_CHECK_="3")
    runs = {}
    for mode in ("interpreted", "compiled"):
        done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True,
                              text=True, timeout=600, env=env, cwd=root)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[mode] = done.stdout.split("\n")
    assert "compiled" in runs["compiled"][4] and "interpreted" not in runs["compiled"][4]
    np.testing.assert_allclose([float(v) for v in runs["compiled"][:4]],
                               [float(v) for v in runs["interpreted"][:4]], rtol=1e-10)
