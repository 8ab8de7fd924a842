"""Writing text with a trained char-RNN: load a checkpoint, read a priming text, then sample
one character at a time, feeding each back in.

The compiled generation step (`CharRNN.compile_step`) takes a batch of character ids and the
recurrent state and returns the next logits and state; everything else is here:
temperature, top-k and the draw itself (one compiled Numba call per step, from one uniform
number per row of a seeded NumPy generator: the same seed gives the same text), and
decoding. `Sampler.generate` yields characters as they are drawn, so a caller can
stream them.
"""

import os

import numba
import numpy as np

from .checkpoint import load_checkpoint
from .data import Vocabulary
from .model import CharRNN, ModelConfig, ModelError


class GenerateError(ValueError):
    """A request the model cannot serve (prime text outside its vocabulary, bad settings)."""


def find_checkpoint(path, which="best"):
    """The checkpoint file for `path`: the file itself, or ``best.ckpt`` (falling back to
    ``latest.ckpt``) in a run directory; ``which="latest"`` prefers ``latest.ckpt``."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    order = ("best.ckpt", "latest.ckpt") if which == "best" else ("latest.ckpt", "best.ckpt")
    for name in order:
        if os.path.exists(os.path.join(path, name)):
            return os.path.join(path, name)
    return os.path.join(path, order[0])  # load_checkpoint names it when it is missing


def load_model(path, which="best"):
    """Load a trained model and its vocabulary from a checkpoint file or run directory.

    Returns
    -------
    (CharRNN, Vocabulary, Checkpoint)

    Raises
    ------
    CheckpointError
        Missing, corrupted, or not a char-RNN checkpoint, or arrays that do not fit the
        architecture it records.
    """
    from .checkpoint import CheckpointError

    ckpt = load_checkpoint(find_checkpoint(path, which))
    meta = ckpt.metadata
    if not {"model", "vocab"} <= meta.keys():
        raise CheckpointError(f"'{ckpt.path}' is not a char-RNN checkpoint (no model "
                              "configuration or vocabulary in it)")
    try:
        vocab = Vocabulary.from_dict(meta["vocab"])
        config = ModelConfig.from_dict(meta["model"])
        if config.vocab_size != len(vocab):
            raise ModelError(f"the model has {config.vocab_size} outputs but the vocabulary "
                             f"{len(vocab)} symbols")
        model = CharRNN(config, seed=meta.get("train", {}).get("seed", 0))
        model.load_arrays(ckpt.arrays, optimizer=False)
    except (ModelError, ValueError) as exc:
        raise CheckpointError(f"checkpoint '{ckpt.path}' cannot be used: {exc}") from None
    return model, vocab, ckpt


def check_prime(vocab, prime):
    """Raise GenerateError naming the characters of `prime` that `vocab` lacks."""
    known = set(vocab.symbols)
    bad = list(dict.fromkeys(c for c in prime if c not in known))
    if bad:
        raise GenerateError(f"the prime text has characters outside the model's vocabulary of "
                            f"{len(vocab)} symbols: {', '.join(map(repr, bad[:8]))}"
                            f"{' ...' if len(bad) > 8 else ''}")


def next_ids(logits, rng, temperature=1.0, top_k=0, argmax=False):
    """Draw one id per row of `logits` (B, V).

    Parameters
    ----------
    logits : (B, V) array
    rng : numpy.random.Generator
        One uniform number is drawn per row (``rng.random(B)``), whatever the temperature
        and top-k (none with `argmax`).
    temperature : float
        Divides the logits: below 1 sharper, above 1 flatter.
    top_k : int
        Keep only the `top_k` most likely ids (0: all).
    argmax : bool
        Take the most likely id (no randomness).

    Returns
    -------
    (B,) int32 array

    Examples
    --------
    >>> next_ids(np.array([[0.0, 5.0, 1.0]]), np.random.default_rng(0), argmax=True).tolist()
    [1]
    """
    logits = np.asarray(logits)
    if logits.ndim != 2 or not logits.shape[1]:
        raise GenerateError(f"logits must be a (batch, vocabulary) array, got shape "
                            f"{logits.shape}")
    if argmax:
        return logits.argmax(axis=1).astype(np.int32)
    if logits.dtype not in (np.float32, np.float64):
        logits = logits.astype(np.float64)
    ids = np.empty(len(logits), dtype=np.int32)
    _draw(logits, float(temperature), int(top_k), rng.random(len(logits)), ids)
    return ids


@numba.njit(cache=True, error_model="numpy")
def _draw(logits, temperature, top_k, u, ids):
    # Row i: softmax(logits[i] / temperature) over its top_k largest entries (all when top_k
    # is 0), inverted at u[i]: the first id whose cumulative weight exceeds u[i] * total.
    # One compiled call per step: the NumPy way (divide, partition, exp, cumsum, compare)
    # costs about ten array calls, a tenth of a 3 x 512 model's step at batch 1.
    B, V = logits.shape
    z = np.empty(V)
    for i in range(B):
        for j in range(V):
            z[j] = logits[i, j] / temperature
        if 0 < top_k < V:
            kth = np.sort(z)[V - top_k]
            for j in range(V):
                if z[j] < kth:
                    z[j] = -np.inf
        top = z.max()
        total = 0.0
        for j in range(V):
            total += np.exp(z[j] - top)
            z[j] = total  # z becomes the cumulative weight
        target = u[i] * total
        k = 0
        while k < V - 1 and z[k] <= target:
            k += 1
        ids[i] = k


class Sampler:
    """Generation from a model: one compiled step function, a state, a seeded generator.

    Parameters
    ----------
    model : CharRNN
    vocab : Vocabulary

    Examples
    --------
    >>> model = CharRNN(ModelConfig(vocab_size=3, layers=1, hidden=4))
    >>> text = "".join(Sampler(model, Vocabulary("abc")).generate(5, prime="ab", seed=1))
    >>> len(text)
    5
    """

    def __init__(self, model, vocab):
        if model.config.vocab_size != len(vocab):
            raise GenerateError(f"the model has {model.config.vocab_size} outputs but the "
                                f"vocabulary {len(vocab)} symbols")
        self.model, self.vocab = model, vocab
        self.step = model.compile_step()

    def prime(self, prime, batch=1):
        """Run `prime` through the model; return ``(logits (B, V), state)`` after it.

        An empty prime starts from a newline (or the vocabulary's fallback symbol).
        """
        check_prime(self.vocab, prime)
        if not prime:
            prime = "\n" if "\n" in self.vocab.symbols else self.vocab.symbols[
                self.vocab.fallback]
        state = self.model.initial_state(batch)
        for i in self.vocab.encode(prime).astype(np.int32):
            logits, state = self.step(np.full(batch, i, dtype=np.int32), state)
        return logits, state

    def generate_ids(self, n, prime="", temperature=1.0, top_k=0, argmax=False, seed=None,
                     batch=1):
        """Yield `n` arrays of `batch` ids, one per generated position (see `generate`)."""
        _check_settings(n, temperature, top_k, batch)
        rng = np.random.default_rng(seed)
        logits, state = self.prime(prime, batch)
        for _ in range(n):
            ids = next_ids(logits, rng, temperature, top_k, argmax)
            yield ids
            logits, state = self.step(ids, state)

    def generate(self, n, prime="", temperature=1.0, top_k=0, argmax=False, seed=None):
        """Yield `n` characters following `prime`, one at a time.

        Parameters
        ----------
        n : int
        prime : str
            Text the model reads first; every character must be in the vocabulary.
        temperature : float
        top_k : int
        argmax : bool
        seed : int or None
            The same seed (and model) gives the same text.

        Raises
        ------
        GenerateError
            A prime character outside the vocabulary, or bad settings.
        """
        decode = self.vocab.symbols
        for ids in self.generate_ids(n, prime, temperature, top_k, argmax, seed):
            yield decode[int(ids[0])]

    def generate_many(self, n, count, prime="", temperature=1.0, top_k=0, seed=None):
        """`count` independent samples of `n` characters, drawn as one batch."""
        rows = list(self.generate_ids(n, prime, temperature, top_k, False, seed, batch=count))
        if not rows:
            return [""] * count
        ids = np.stack(rows, axis=1)
        return [self.vocab.decode(r) for r in ids]


def _check_settings(n, temperature, top_k, batch):
    for name, value, low in (("length", n, 0), ("top-k", top_k, 0), ("batch", batch, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise GenerateError(f"{name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(temperature, (int, float)) and temperature > 0 and np.isfinite(
            temperature)):
        raise GenerateError(f"temperature must be a positive number, got {temperature!r}")
