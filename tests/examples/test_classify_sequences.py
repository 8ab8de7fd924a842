"""Tests of examples/classify_sequences.py: masks, the cells against NumPy, and learning."""

import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    "classify_sequences", os.path.join(ROOT, "examples", "classify_sequences.py"))
cs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cs)

TOL = {"float64": dict(rtol=1e-10, atol=1e-13), "float32": dict(rtol=2e-5, atol=1e-6)}


def sig(a):
    return 1 / (1 + np.exp(-a))


def numpy_step(cell, xw, carries, U, H):
    """The three cells in NumPy, written from their definitions."""
    if cell == "rnn":
        return [np.tanh(xw + carries[0] @ U)]
    if cell == "lstm":
        h, c = carries
        pre = xw + h @ U
        c = sig(pre[:, H:2 * H]) * c + sig(pre[:, :H]) * np.tanh(pre[:, 3 * H:])
        return [sig(pre[:, 2 * H:3 * H]) * np.tanh(c), c]
    h = carries[0]
    z, r = sig(xw[:, :H] + h @ U[:, :H]), sig(xw[:, H:2 * H] + h @ U[:, H:2 * H])
    return [(1 - z) * np.tanh(xw[:, 2 * H:] + (r * h) @ U[:, 2 * H:]) + z * h]


def numpy_proba(model, seq):
    """One unpadded sequence through the model in NumPy: no mask needed."""
    E, W, b, U, V, c = [p.get_value().astype(np.float64) for p in model.params]
    H = model.n_hidden
    carries = [np.zeros((1, H))] * model.n_carries
    states = []
    for t in seq:
        carries = numpy_step(model.cell, E[[t]] @ W + b, carries, U, H)
        states.append(carries[0])
    feature = states[-1] if model.pool == "last" else np.mean(states, axis=0)
    a = feature @ V + c
    return np.exp(a - a.max()) / np.exp(a - a.max()).sum()


def make_model(cell, pool, dtype, seed=5):
    model = cs.SequenceClassifier(cell, n_vocab=11, n_hidden=6, n_embed=5, pool=pool,
                                  rng=np.random.default_rng(seed), dtype=dtype)
    model.V.set_value(model.V.get_value() * 8)  # probabilities well away from 1/2
    return model


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("pool", ["last", "mean"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_never_changes_a_result(cell, pool, dtype, rng):
    model = make_model(cell, pool, dtype)
    seqs = [rng.integers(1, 11, size=n) for n in (23, 7, 1, 15)]
    alone = [model.predict_proba(*cs.pad([s], dtype))[0] for s in seqs]
    batched = model.predict_proba(*cs.pad(seqs, dtype))
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(batched[i], alone[i], **TOL[dtype])
        np.testing.assert_allclose(alone[i], numpy_proba(model, s)[0], **TOL[dtype])
    # not vacuous: the sequences differ, and without the mask padding would change them
    assert np.ptp([a[0] for a in alone]) > 1e-3
    x, mask = cs.pad(seqs, dtype)
    unmasked = model.predict_proba(x, np.ones_like(mask))
    # in log-probabilities (a saturated probability hides a change) and over every padded
    # sequence: one of them alone moved by 4e-5 for some seeds
    assert max(np.abs(np.log(unmasked[i]) - np.log(alone[i])).max() for i in (1, 2, 3)) > 1e-3


def test_pad_and_sample_shapes(rng):
    corpus = cs.Corpus(max_chars=20000)
    seqs, labels = corpus.sample(9, rng, "held-out", min_len=5, max_len=12)
    assert sorted(set(labels.tolist())) == [0, 1] and len(seqs) == 9
    assert all(5 <= len(s) <= 12 and s.min() >= 1 and s.max() < corpus.n_vocab for s in seqs)
    x, mask = cs.pad(seqs)
    assert x.shape == mask.shape == (max(len(s) for s in seqs), 9)
    np.testing.assert_array_equal(mask.sum(axis=0), [len(s) for s in seqs])
    np.testing.assert_array_equal(x[:len(seqs[0]), 0], seqs[0])


def test_held_out_snippets_come_from_unseen_text():
    corpus = cs.Corpus(max_chars=20000)
    seqs, labels = corpus.sample(40, np.random.default_rng(0), "held-out")
    assert corpus.n_vocab < 256  # ids fit in bytes, so bytes.find can search the texts
    for s, label in zip(seqs, labels):
        text, snippet = corpus.ids[label].astype(np.uint8).tobytes(), s.astype(np.uint8).tobytes()
        assert text.find(snippet, corpus.cut[label]) >= 0  # found in the held-out tenth


def test_a_tiny_run_learns_above_chance(capsys):
    results = cs.main(["--quick", "--pool", "mean", "--steps", "150", "--lr", "0.01",
                       "--eval", "200", "--seed", "0"])
    out = capsys.readouterr().out
    assert set(results) == {"rnn", "lstm", "gru"} and "held-out acc" in out
    for cell, acc in results.items():
        assert acc > 0.65, f"{cell}: held-out accuracy {acc} (chance 0.5)"


def test_unknown_cell_is_named():
    with pytest.raises(SystemExit, match="unknown cell"):
        cs.main(["--cells", "rnn,transformer"])
