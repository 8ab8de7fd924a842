"""Many-to-one: which author wrote a snippet? SimpleRNN, LSTM and GRU over masked batches.

The sequence-classification recipe of the Keras lectures, written with minigraph's
Theano API. Snippets of 20 to 100 characters are cut from the two texts that ship with the
repository (``models/data/tinyshakespeare.txt``, ``models/data/nietzsche.txt``; lower-cased
and with runs of white space made one space, so the line layout gives nothing away), padded
into time-major batches, and read by a recurrent cell inside ``theano.scan``. A mask rides
along as a second sequence and the carry is masked: at a padding step the state is kept
(``h = m * h_new + (1 - m) * h_old``), so the final state of the scan *is* each sequence's
last valid state, and padding never changes a sequence's result. That state (or, with
``--pool mean``, the mean of the states over the valid steps) goes into a softmax
classifier. Training is Adam with the gradient's global norm clipped at 5, written by hand.
The held-out snippets come from the last tenth of each text, which training never sees.

The cells are written in plain ops: SimpleRNN ``tanh(x W + h U + b)``; LSTM (gates i, f, o
and candidate g from one product each, forget bias 1); GRU (update z, reset r, candidate
``tanh(x W + (r * h) U)``)::

    python examples/classify_sequences.py                    # all three cells, 1-2 minutes
    python examples/classify_sequences.py --quick            # a few seconds
    python examples/classify_sequences.py --cells lstm --steps 600 --pool mean
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: threads cost more

import argparse  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402

_REPO_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "models", "data")
AUTHORS = ("tinyshakespeare", "nietzsche")  # class 0 and class 1


def data_dir():
    """The folder of bundled texts: the repository's, else the installed ``models`` package's."""
    if os.path.isdir(_REPO_DATA):
        return _REPO_DATA
    import models

    return os.path.join(os.path.dirname(models.__file__), "data")


class Corpus:
    """The two texts as id arrays, a shared vocabulary, and a train / held-out split.

    Ids start at 1: 0 is the padding id (its value is irrelevant, the mask hides it).
    ``held_out`` is the fraction at the end of each text kept for evaluation.
    """

    def __init__(self, held_out=0.1, max_chars=None):
        texts = []
        for name in AUTHORS:
            with open(os.path.join(data_dir(), name + ".txt"), encoding="utf-8") as f:
                texts.append(re.sub(r"\s+", " ", f.read(max_chars).lower()))
        self.chars = sorted(set(texts[0]) | set(texts[1]))
        index = {c: i + 1 for i, c in enumerate(self.chars)}
        self.ids = [np.array([index[c] for c in t], dtype=np.int32) for t in texts]
        self.cut = [int(len(ids) * (1 - held_out)) for ids in self.ids]

    @property
    def n_vocab(self):
        return len(self.chars) + 1

    def sample(self, n, rng, split="train", min_len=20, max_len=100):
        """``n`` snippets (id arrays of random length) and their authors, classes balanced."""
        labels = rng.permutation(np.arange(n) % 2)
        seqs = []
        for label in labels:
            ids, cut = self.ids[label], self.cut[label]
            lo, hi = (0, cut) if split == "train" else (cut, len(ids))
            length = int(rng.integers(min_len, max_len + 1))
            start = int(rng.integers(lo, hi - length))
            seqs.append(ids[start:start + length])
        return seqs, labels.astype(np.int32)


def pad(seqs, dtype="float32"):
    """Time-major ids ``(T, B)`` padded with 0 and the mask ``(T, B)``: 1 at valid steps.

    Examples
    --------
    >>> x, m = pad([np.array([5, 6, 7]), np.array([8])])
    >>> x.T.tolist(), m.T.tolist()
    ([[5, 6, 7], [8, 0, 0]], [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    """
    steps = max(len(s) for s in seqs)
    x = np.zeros((steps, len(seqs)), dtype=np.int32)
    mask = np.zeros((steps, len(seqs)), dtype=dtype)
    for j, s in enumerate(seqs):
        x[:len(s), j] = s
        mask[:len(s), j] = 1
    return x, mask


# ---- the cells: (gates per step, number of carries, step function) ----------------------

def rnn_step(xw, carries, U, H):
    """SimpleRNN: ``h = tanh(x W + b + h U)``."""
    (h,) = carries
    return [T.tanh(xw + T.dot(h, U))]


def lstm_step(xw, carries, U, H):
    """LSTM: input, forget, output gates and the candidate from one ``(H, 4H)`` product."""
    h, c = carries
    pre = xw + T.dot(h, U)
    i, f, o = [T.nnet.sigmoid(pre[:, k * H:(k + 1) * H]) for k in range(3)]
    c_new = f * c + i * T.tanh(pre[:, 3 * H:])
    return [o * T.tanh(c_new), c_new]


def gru_step(xw, carries, U, H):
    """GRU: update and reset gates; the candidate sees the reset-gated state."""
    (h,) = carries
    zr = T.nnet.sigmoid(xw[:, :2 * H] + T.dot(h, U[:, :2 * H]))
    z, r = zr[:, :H], zr[:, H:]
    n = T.tanh(xw[:, 2 * H:] + T.dot(r * h, U[:, 2 * H:]))
    return [(1 - z) * n + z * h]


CELLS = {"rnn": (1, 1, rnn_step), "lstm": (4, 2, lstm_step), "gru": (3, 1, gru_step)}


class SequenceClassifier:
    """Embedding, a masked recurrent cell in ``scan``, a softmax over ``n_classes``.

    Parameters
    ----------
    cell : {'rnn', 'lstm', 'gru'}
    n_vocab, n_embed, n_hidden, n_classes : int
    pool : {'last', 'mean'}
        The last valid state, or the mean of the states over the valid steps.
    rng : numpy.random.Generator
    dtype : str
        Of the parameters and the mask.
    """

    def __init__(self, cell, n_vocab, n_hidden, n_classes=2, n_embed=16, pool="last",
                 rng=None, dtype="float32"):
        rng = rng if rng is not None else np.random.default_rng(0)
        self.cell, self.pool, self.dtype, self.n_hidden = cell, pool, dtype, n_hidden
        gates, self.n_carries, self.step_fn = CELLS[cell]
        H = n_hidden

        def weight(*shape, scale=None):
            s = scale if scale is not None else 1 / np.sqrt(shape[0])
            return theano.shared((s * rng.standard_normal(shape)).astype(dtype))

        b = np.zeros(gates * H, dtype=dtype)
        if cell == "lstm":
            b[H:2 * H] = 1  # forget bias 1: remember by default
        U = np.concatenate([np.linalg.qr(rng.standard_normal((H, H)))[0]
                            for _ in range(gates)], axis=1).astype(dtype)  # orthogonal blocks
        self.E, self.W = weight(n_vocab, n_embed, scale=0.3), weight(n_embed, gates * H)
        self.b, self.U = theano.shared(b), theano.shared(U)
        self.V, self.c = weight(H, n_classes), theano.shared(np.zeros(n_classes, dtype=dtype))
        self.params = [self.E, self.W, self.b, self.U, self.V, self.c]
        self.x, self.mask = T.imatrix("x"), T.matrix("mask", dtype=dtype)
        self.proba = self._probabilities(self.x, self.mask)
        self.predict_proba = theano.function([self.x, self.mask], self.proba)

    def _probabilities(self, x, mask):
        H, n_batch = self.n_hidden, x.shape[1]
        xw = T.dot(self.E[x], self.W) + self.b  # the input projection of every step at once

        def step(xw_t, m_t, *args):
            carries, U = args[:self.n_carries], args[-1]
            new = self.step_fn(xw_t, carries, U, H)
            m = m_t.dimshuffle(0, "x")
            return [m * n + (1 - m) * old for n, old in zip(new, carries)]  # padding keeps

        init = [T.zeros((n_batch, H), dtype=self.dtype) for _ in range(self.n_carries)]
        states, _ = theano.scan(step, sequences=[xw, mask], outputs_info=init,
                                non_sequences=[self.U], name=self.cell, return_list=True)
        hs = states[0]
        if self.pool == "last":
            feature = hs[-1]  # the carry stopped at each sequence's last valid step
        else:
            feature = (hs * mask.dimshuffle(0, 1, "x")).sum(axis=0) / \
                mask.sum(axis=0).dimshuffle(0, "x")
        return T.nnet.softmax(T.dot(feature, self.V) + self.c)

    def compile_train(self, lr=0.01, clip=5.0):
        """``train(x, mask, y) -> loss``: one Adam step with global-norm clipping."""
        y = T.ivector("y")
        loss = T.nnet.categorical_crossentropy(self.proba, y).mean()
        grads = T.grad(loss, self.params)
        norm = T.sqrt(sum((g ** 2).sum() for g in grads))
        scale = T.minimum(1.0, clip / (norm + 1e-8))
        t = theano.shared(np.asarray(0.0, dtype=self.dtype))
        t_new = t + 1
        updates = [(t, t_new)]
        for p, g in zip(self.params, grads):
            g = g * scale
            m1 = theano.shared(np.zeros_like(p.get_value()))
            m2 = theano.shared(np.zeros_like(p.get_value()))
            m1_new, m2_new = 0.9 * m1 + 0.1 * g, 0.999 * m2 + 0.001 * g ** 2
            step = lr * (m1_new / (1 - 0.9 ** t_new)) / (T.sqrt(m2_new / (1 - 0.999 ** t_new))
                                                         + 1e-8)
            updates += [(m1, m1_new), (m2, m2_new), (p, p - step)]
        return theano.function([self.x, self.mask, y], loss, updates=updates,
                               allow_input_downcast=True)

    def accuracy(self, seqs, labels, batch=100):
        hits = 0
        for i in range(0, len(seqs), batch):
            x, m = pad(seqs[i:i + batch], self.dtype)
            hits += int((self.predict_proba(x, m).argmax(axis=1) == labels[i:i + batch]).sum())
        return hits / len(seqs)


def train_cell(corpus, cell, args, held_out):
    """Train one cell; returns its held-out accuracy, last losses and seconds taken."""
    rng = np.random.default_rng(args.seed)
    model = SequenceClassifier(cell, corpus.n_vocab, args.hidden, pool=args.pool, rng=rng,
                               dtype=args.dtype)
    train = model.compile_train(lr=args.lr)
    t0, losses = time.perf_counter(), []
    for i in range(args.steps):
        seqs, labels = corpus.sample(args.batch, rng, "train", args.min_len, args.max_len)
        losses.append(float(train(*pad(seqs, args.dtype), labels)))
        if args.verbose and (i + 1) % 100 == 0:
            print(f"  {cell} step {i + 1}: loss {np.mean(losses[-100:]):.3f}")
    return model.accuracy(*held_out), float(np.mean(losses[-50:])), time.perf_counter() - t0


def build_parser():
    p = argparse.ArgumentParser(description="Which author wrote a snippet: Shakespeare or "
                                "Nietzsche? A many-to-one RNN / LSTM / GRU with masks.")
    p.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated: rnn, lstm, gru")
    p.add_argument("--steps", type=int, default=300, help="training steps per cell")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--pool", choices=["last", "mean"], default="last")
    p.add_argument("--min-len", type=int, default=20)
    p.add_argument("--max-len", type=int, default=100)
    p.add_argument("--eval", type=int, default=400, help="held-out snippets")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--quick", action="store_true", help="a few seconds: small and short")
    p.add_argument("--verbose", action="store_true", help="print the loss every 100 steps")
    return p


def main(argv=None):
    parser = build_parser()
    if parser.parse_args(argv).quick:  # smaller defaults; options given still win
        parser.set_defaults(steps=60, hidden=16, eval=100, max_len=40)
    args = parser.parse_args(argv)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        raise SystemExit(f"--cells: unknown cell(s) {unknown}; choose from {sorted(CELLS)}")
    corpus = Corpus()
    held_out = corpus.sample(args.eval, np.random.default_rng(args.seed + 1), "held-out",
                             args.min_len, args.max_len)
    print(f"{len(corpus.chars)} characters; snippets of {args.min_len}-{args.max_len}; "
          f"{args.steps} steps of {args.batch}, hidden {args.hidden}, pool {args.pool}; "
          f"chance 0.50")
    print(f"{'cell':<6}{'held-out acc':>14}{'train loss':>12}{'seconds':>10}")
    results = {}
    for cell in cells:
        acc, loss, secs = train_cell(corpus, cell, args, held_out)
        results[cell] = acc
        print(f"{cell:<6}{acc:>14.3f}{loss:>12.3f}{secs:>10.1f}")
    return results


if __name__ == "__main__":
    main()
