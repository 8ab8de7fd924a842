"""A character-level GRU language model, as Theano tutorials wrote them, run unchanged.

The GRU (Cho et al.: update gate z, reset gate r, candidate from ``r * h``) is written in
plain ops inside ``theano.scan`` over time-major batches of a few KB of the bundled Tiny
Shakespeare (a generated text when the repository's data is not beside this file); the
cross-entropy of the next character is minimised by RMSprop written by hand, and text is
sampled one character at a time from a compiled step function. Checks: the loss and the
hidden states equal a NumPy GRU, the first RMSprop step of the output bias equals NumPy's,
training lowers the loss, and the sample uses the text's characters.
"""

from __future__ import print_function

import os

import numpy as np
import theano
import theano.tensor as T

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, os.pardir, os.pardir, os.pardir, "models", "data",
                      "tinyshakespeare.txt")


def load_text(n_chars=6000):
    if os.path.exists(CORPUS):
        with open(CORPUS, encoding="utf-8") as f:
            return f.read(n_chars)
    words = ["to", "be", "or", "not", "that", "is", "the", "question"]
    rng = np.random.RandomState(0)
    return " ".join(words[i] for i in rng.randint(0, len(words), n_chars // 4))


def batches(ids, seq_len, batch_size, rng):
    """Random windows: inputs and next-character targets, both (seq_len, batch_size)."""
    starts = rng.randint(0, len(ids) - seq_len - 1, size=batch_size)
    window = starts[None, :] + np.arange(seq_len)[:, None]
    return ids[window], ids[window + 1]


def init(shape, rng, scale=None):
    scale = scale if scale is not None else 1.0 / np.sqrt(shape[0])
    return theano.shared((scale * rng.randn(*shape)).astype(theano.config.floatX))


class GRULanguageModel(object):
    def __init__(self, n_vocab, n_hidden, rng):
        self.n_hidden = n_hidden
        self.E = init((n_vocab, n_hidden), rng, 0.1)
        self.W = init((n_hidden, 3 * n_hidden), rng)  # input to z, r, candidate
        self.U = init((n_hidden, 3 * n_hidden), rng)  # hidden to z, r, candidate
        self.b = theano.shared(np.zeros(3 * n_hidden, dtype=theano.config.floatX))
        self.V = init((n_hidden, n_vocab), rng)
        self.c = theano.shared(np.zeros(n_vocab, dtype=theano.config.floatX))
        self.params = [self.E, self.W, self.U, self.b, self.V, self.c]

    def step(self, x_t, h_tm1):
        H = self.n_hidden
        gx = T.dot(self.E[x_t], self.W) + self.b
        z = T.nnet.sigmoid(gx[:, :H] + T.dot(h_tm1, self.U[:, :H]))
        r = T.nnet.sigmoid(gx[:, H:2 * H] + T.dot(h_tm1, self.U[:, H:2 * H]))
        h_tilde = T.tanh(gx[:, 2 * H:] + T.dot(r * h_tm1, self.U[:, 2 * H:]))
        return (1 - z) * h_tm1 + z * h_tilde

    def hidden_states(self, x, h0):
        h, _ = theano.scan(self.step, sequences=x, outputs_info=h0)
        return h

    def probabilities(self, h):
        return T.nnet.softmax(T.dot(h, self.V) + self.c)


def rmsprop(cost, params, lr=0.01, rho=0.9, eps=1e-6):
    updates = []
    for p, g in zip(params, T.grad(cost, params)):
        acc = theano.shared(p.get_value() * 0.)
        acc_new = rho * acc + (1 - rho) * g ** 2
        updates.append((acc, acc_new))
        updates.append((p, p - lr * g / T.sqrt(acc_new + eps)))
    return updates


def numpy_gru(model, x, h0):
    """Hidden states and next-character probabilities of the model, in NumPy."""
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    E, W, U, b, V, c = [p.get_value() for p in model.params]
    H, h, hs = model.n_hidden, h0, []
    for x_t in x:
        gx = E[x_t].dot(W) + b
        z = sig(gx[:, :H] + h.dot(U[:, :H]))
        r = sig(gx[:, H:2 * H] + h.dot(U[:, H:2 * H]))
        h = (1 - z) * h + z * np.tanh(gx[:, 2 * H:] + (r * h).dot(U[:, 2 * H:]))
        hs.append(h)
    a = np.array(hs).reshape(-1, H).dot(V) + c
    p = np.exp(a - a.max(axis=1, keepdims=True))
    return np.array(hs), p / p.sum(axis=1, keepdims=True)


def main(n_hidden=48, seq_len=25, batch_size=16, n_updates=150, seed=42):
    text = load_text()
    chars = sorted(set(text))
    ids = np.array([chars.index(ch) for ch in text], dtype="int32")
    rng = np.random.RandomState(seed)
    model = GRULanguageModel(len(chars), n_hidden, rng)

    x, y, h0 = T.imatrix("x"), T.imatrix("y"), T.matrix("h0")
    h = model.hidden_states(x, h0)
    probs = model.probabilities(h.reshape((-1, n_hidden)))
    cost = T.nnet.categorical_crossentropy(probs, y.flatten()).mean()
    train = theano.function([x, y, h0], [cost, h], updates=rmsprop(cost, model.params))

    # one step against NumPy
    bx, by = batches(ids, seq_len, batch_size, rng)
    zeros = np.zeros((batch_size, n_hidden), dtype=theano.config.floatX)
    want_h, want_p = numpy_gru(model, bx, zeros)
    c_before = model.c.get_value()
    got_cost, got_h = train(bx, by, zeros)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-7, atol=1e-10)
    n = want_p.shape[0]
    np.testing.assert_allclose(got_cost, -np.log(want_p[np.arange(n), by.ravel()]).mean(),
                               rtol=1e-7)
    g_c = want_p.copy()
    g_c[np.arange(n), by.ravel()] -= 1
    g_c = g_c.sum(axis=0) / n
    want_c = c_before - 0.01 * g_c / np.sqrt(0.1 * g_c ** 2 + 1e-6)
    np.testing.assert_allclose(model.c.get_value(), want_c, rtol=1e-7, atol=1e-12)

    losses = [float(got_cost)]
    for i in range(n_updates):
        bx, by = batches(ids, seq_len, batch_size, rng)
        losses.append(float(train(bx, by, zeros)[0]))
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    print("%d characters, vocabulary %d; loss %.3f -> %.3f (uniform: %.3f)"
          % (len(text), len(chars), first, last, np.log(len(chars))))
    assert last < 0.8 * first, "training did not lower the loss"

    # sampling, one character at a time
    x_t, h_prev = T.ivector("x_t"), T.matrix("h_prev")
    h_next = model.step(x_t, h_prev)
    sample_step = theano.function([x_t, h_prev], [model.probabilities(h_next), h_next])
    hv, ch, out = np.zeros((1, n_hidden), dtype=theano.config.floatX), ids[:1], []
    for _ in range(120):
        p, hv = sample_step(ch, hv)
        ch = np.array([rng.choice(len(chars), p=p[0] / p[0].sum())], dtype="int32")
        out.append(chars[ch[0]])
    sample = "".join(out)
    print("sample:", repr(sample))
    assert len(sample) == 120 and set(sample) <= set(chars)


if __name__ == "__main__":
    main()
