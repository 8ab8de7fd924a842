"""Tests for models/charrnn/generate.py: loading a checkpoint, deterministic seeded sampling,
argmax and top-k, the sampling distribution, priming, and the errors for bad primes and for
checkpoints that are damaged or do not fit.

Random inputs come from a fresh seed printed by the `rng` fixture (shown when a test fails).
"""

import re
import types

import numpy as np
import pytest

from models.charrnn.checkpoint import CheckpointError, save_checkpoint
from models.charrnn.data import Vocabulary
from models.charrnn.generate import GenerateError, Sampler, load_model, next_ids
from models.charrnn.model import CharRNN, ModelConfig

SYMBOLS = "\n !,.:;?ABCDEMORabcdefghilmnorstuvwy"




def make_checkpoint(path, rng, hidden=12, layers=2, cell="gru"):
    """A (random, untrained) model saved as a trainer would save it."""
    vocab = Vocabulary(SYMBOLS, kind="text")
    config = ModelConfig(vocab_size=len(vocab), cell=cell, layers=layers, hidden=hidden)
    model = CharRNN(config, seed=int(rng.integers(1000)))
    for var in model.params.values():  # larger weights: sharper, more varied predictions
        var.set_value(var.get_value() * 3)
    arrays = {f"param/{n}": v.get_value() for n, v in model.params.items()}
    save_checkpoint(path, arrays, {"model": config.to_dict(), "vocab": vocab.to_dict(),
                                   "train": {"seed": 0}})
    return model, vocab


@pytest.fixture
def sampler(tmp_path, rng):
    make_checkpoint(tmp_path / "latest.ckpt", rng)
    model, vocab, _ = load_model(tmp_path)
    return Sampler(model, vocab)


def text(sampler, n=60, **kw):
    return "".join(sampler.generate(n, **kw))


def test_loaded_model_equals_the_saved_one(tmp_path, rng):
    saved, vocab = make_checkpoint(tmp_path / "m.ckpt", rng)
    model, got_vocab, ckpt = load_model(tmp_path / "m.ckpt")
    assert got_vocab == vocab and model.config == saved.config
    for name, var in saved.params.items():
        np.testing.assert_array_equal(model.params[name].get_value(), var.get_value())


def test_same_seed_same_text_and_generation_streams(sampler, rng):
    seed = int(rng.integers(1 << 30))
    a = text(sampler, prime="ROMEO:", seed=seed, temperature=0.8)
    assert len(a) == 60 and set(a) <= set(SYMBOLS)
    assert text(sampler, prime="ROMEO:", seed=seed, temperature=0.8) == a
    assert text(sampler, prime="ROMEO:", seed=seed + 1, temperature=0.8) != a
    stream = sampler.generate(10**9, seed=seed)  # lazy: one character at a time
    assert isinstance(stream, types.GeneratorType) and len(next(stream)) == 1


def test_argmax_follows_the_likeliest_character(sampler):
    got = text(sampler, n=20, prime="AB", argmax=True, seed=1)
    assert text(sampler, n=20, prime="AB", argmax=True, seed=2) == got
    assert text(sampler, n=20, prime="AB", top_k=1, seed=3) == got  # top-1 is argmax
    logits, state = sampler.prime("AB")  # the same, by hand
    want = []
    for _ in range(20):
        i = int(np.argmax(logits[0]))
        want.append(SYMBOLS[i])
        logits, state = sampler.step(np.array([i], dtype=np.int32), state)
    assert got == "".join(want)


def test_draws_follow_softmax_with_temperature_and_top_k(rng):
    logits = np.tile(rng.normal(0, 2, 6), (20000, 1))
    for temperature, top_k in ((1.0, 0), (0.5, 0), (2.0, 3)):
        ids = next_ids(logits, rng, temperature, top_k)
        z = logits[0] / temperature
        if top_k:
            z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
        p = np.exp(z - z.max())
        p /= p.sum()
        freq = np.bincount(ids, minlength=6) / len(ids)
        np.testing.assert_allclose(freq, p, atol=0.015)
        if top_k:
            assert freq[p == 0].sum() == 0


def numpy_next_ids(logits, rng, temperature, top_k):
    """The draw written with NumPy array calls: the reference for the compiled one."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    if 0 < top_k < z.shape[1]:
        z = np.where(z >= np.sort(z, axis=1)[:, -top_k, None], z, -np.inf)
    cdf = np.cumsum(np.exp(z - z.max(axis=1, keepdims=True)), axis=1)
    u = rng.random(len(z))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), z.shape[1] - 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_draw_equals_the_numpy_formula(rng, dtype):
    seed = int(rng.integers(1 << 30))
    for temperature, top_k in ((1.0, 0), (0.7, 0), (1.3, 5), (0.5, 40), (1.0, 1)):
        logits = (rng.normal(0, 3, (64, 40))).astype(dtype)
        got = next_ids(logits, np.random.default_rng(seed), temperature, top_k)
        want = numpy_next_ids(logits, np.random.default_rng(seed), temperature, top_k)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


def test_logits_of_the_wrong_shape_are_named(rng):
    for bad in (np.zeros(5), np.zeros((2, 0)), np.zeros((1, 2, 3))):
        with pytest.raises(GenerateError, match=r"logits must be a \(batch, vocabulary\) "
                                                r"array, got shape " + re.escape(str(bad.shape))):
            next_ids(bad, rng)


def test_many_samples_at_once(sampler):
    rows = sampler.generate_many(30, 4, prime="ROMEO:", seed=5)
    assert len(rows) == 4 and all(len(r) == 30 for r in rows)
    assert len(set(rows)) > 1


def test_prime_outside_the_vocabulary_is_named(sampler):
    with pytest.raises(GenerateError, match=r"outside the model's vocabulary of 36 symbols: "
                                            r"'é', '€'"):
        text(sampler, prime="Roméo €")


@pytest.mark.parametrize("bad, match", [
    (dict(temperature=0), "temperature must be a positive number"),
    (dict(top_k=-1), "top-k must be an integer >= 0"),
    (dict(n=-5), "length must be an integer >= 0"),
])
def test_bad_settings(sampler, bad, match):
    kw = {"n": 5, **bad}
    with pytest.raises(GenerateError, match=match):
        list(sampler.generate(kw.pop("n"), **kw))


def test_damaged_and_mismatched_checkpoints(tmp_path, rng):
    make_checkpoint(tmp_path / "good.ckpt", rng)
    data = (tmp_path / "good.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_model(tmp_path / "cut.ckpt")
    model, vocab = make_checkpoint(tmp_path / "other.ckpt", rng, hidden=7)
    arrays = {f"param/{n}": v.get_value() for n, v in model.params.items()}
    wrong = dict(model.config.to_dict(), hidden=12)  # metadata says 12, arrays are 7 wide
    save_checkpoint(tmp_path / "wrong.ckpt", arrays, {"model": wrong, "vocab": vocab.to_dict()})
    with pytest.raises(CheckpointError, match=r"cannot be used: arrays do not fit this model: "
                                              r"param/l0/W_h is float32\[7, 21\]"):
        load_model(tmp_path / "wrong.ckpt")
    other_vocab = Vocabulary("abc").to_dict()
    save_checkpoint(tmp_path / "vocab.ckpt", arrays, {"model": model.config.to_dict(),
                                                      "vocab": other_vocab})
    with pytest.raises(CheckpointError, match="36 outputs but the vocabulary 3 symbols"):
        load_model(tmp_path / "vocab.ckpt")
    save_checkpoint(tmp_path / "plain.ckpt", {"W": np.zeros(2)}, {"step": 1})
    with pytest.raises(CheckpointError, match="is not a char-RNN checkpoint"):
        load_model(tmp_path / "plain.ckpt")
    with pytest.raises(CheckpointError, match="no checkpoint file at"):
        load_model(tmp_path / "empty_dir_that_does_not_exist")
