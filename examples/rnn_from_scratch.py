"""The fast.ai lesson-6 "RNN from scratch in Theano", written for minigraph.

A character-level RNN: each character one-hot, a hidden state of 256 with ReLU and the
hidden-to-hidden weights initialised to the identity, a softmax over the next character at
every step, categorical cross-entropy summed over 8-character sequences, and plain SGD
updates in one compiled function, one sequence per call, as in the lesson. The loop is a
``theano.scan`` over the 8 characters, and ``theano.grad`` differentiates through it.
The average loss is printed every 1,000 iterations (the lesson went from about 25.2 to
14.5 in one pass over Nietzsche), then the predicted next character after each position of
a few strings.

``--cell gru`` swaps the ReLU cell for a GRU written with plain ops in the cuDNN
formulation (gates r, z, n; one H x 3H matrix for the hidden state, one for the input)::

    python examples/rnn_from_scratch.py                      # 20,000 iterations, 1-3 min
    python examples/rnn_from_scratch.py --iterations -1      # one full pass, as the lesson
    python examples/rnn_from_scratch.py --cell gru --text tinyshakespeare
"""

import os

# one BLAS thread: the products here are small (256 x 256), and BLAS threads cost more to
# wake than they save (set before NumPy loads BLAS)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections import OrderedDict  # noqa: E402

import numpy as np  # noqa: E402

import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models",
                    "data")


def load(name, seq_len):
    """The lesson's data: vocabulary (with "\\0" first) and non-overlapping sequences."""
    with open(os.path.join(DATA, f"{name}.txt"), encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    chars.insert(0, "\0")
    index = {c: i for i, c in enumerate(chars)}
    idx = np.array([index[c] for c in text], dtype=np.int64)
    starts = np.arange(0, len(idx) - 1 - seq_len, seq_len)
    xs = idx[starts[:, None] + np.arange(seq_len)]
    return chars, index, xs, idx[starts[:, None] + np.arange(1, seq_len + 1)]


def weights(rows, cols, rng):
    """He-normal weights, as the lesson's ``init_wgts``."""
    return theano.shared(rng.normal(scale=math.sqrt(2 / rows), size=(rows, cols))
                         .astype(np.float32))


def bias(n):
    return theano.shared(np.zeros(n, dtype=np.float32))


def rnn_cell(n_in, n_hidden, rng):
    """The lesson's cell: ``h = relu(x @ W_x + b_x + h @ W_h + b_h)``, W_h the identity."""
    params = [theano.shared(np.eye(n_hidden, dtype=np.float32)), bias(n_hidden),
              weights(n_in, n_hidden, rng), bias(n_hidden)]

    def step(x, h, W_h, b_h, W_x, b_x):
        return T.nnet.relu(T.dot(x, W_x) + b_x + T.dot(h, W_h) + b_h)

    return params, step


def gru_cell(n_in, n_hidden, rng):
    """A GRU in the cuDNN formulation: gates r, z and candidate n from one product each."""
    H = n_hidden
    W_h = rng.normal(scale=math.sqrt(1 / H), size=(H, 3 * H)).astype(np.float32)
    params = [theano.shared(W_h), bias(3 * H), weights(n_in, 3 * H, rng), bias(3 * H)]

    def step(x, h, W_h, b_h, W_x, b_x):
        gx = T.dot(x, W_x) + b_x  # input projection of all three gates
        gh = T.dot(h, W_h) + b_h  # hidden projection of all three gates
        r = T.nnet.sigmoid(gx[:H] + gh[:H])
        z = T.nnet.sigmoid(gx[H: 2 * H] + gh[H: 2 * H])
        n = T.tanh(gx[2 * H:] + r * gh[2 * H:])
        return (1 - z) * n + z * h

    return params, step


def build(vocab, n_hidden, cell, rng):
    """The training function ``(h0, x, y, lr) -> loss`` and the predictor ``(h0, x) -> p``."""
    cell_params, cell_step = (gru_cell if cell == "gru" else rnn_cell)(vocab, n_hidden, rng)
    out_params = [weights(n_hidden, vocab, rng), bias(vocab)]
    params = cell_params + out_params
    t_inp, t_outp = T.fmatrix("inp"), T.fmatrix("outp")
    t_h0, lr = T.fvector("h0"), T.fscalar("lr")

    def step(x, h, W_h, b_h, W_x, b_x, W_y, b_y):
        h = cell_step(x, h, W_h, b_h, W_x, b_x)
        y = T.nnet.softmax(T.dot(h, W_y) + b_y)
        return h, T.flatten(y, 1)

    [v_h, v_y], _ = theano.scan(step, sequences=t_inp, outputs_info=[t_h0, None],
                                non_sequences=params, name=cell)
    error = T.nnet.categorical_crossentropy(v_y, t_outp).sum()
    grads = T.grad(error, params)
    updates = OrderedDict((w, w - g * lr) for w, g in zip(params, grads))
    t0 = time.perf_counter()
    train = theano.function([t_h0, t_inp, t_outp, lr], error, updates=updates,
                            allow_input_downcast=True)
    compile_s = time.perf_counter() - t0
    predict = theano.function([t_h0, t_inp], v_y, allow_input_downcast=True)
    return train, predict, compile_s


def show_predictions(predict, chars, index, n_hidden, strings):
    eye = np.eye(len(chars), dtype=np.float32)
    h0 = np.zeros(n_hidden, dtype=np.float32)
    for s in strings:
        probs = predict(h0, eye[[index.get(c, 0) for c in s]])
        guess = "".join(chars[i] for i in probs.argmax(axis=1))
        print(f"  {s!r:>14} -> next characters {guess!r}")


def main():
    p = argparse.ArgumentParser(description="fast.ai lesson 6: an RNN from scratch with scan")
    p.add_argument("--text", choices=["nietzsche", "tinyshakespeare"], default="nietzsche")
    p.add_argument("--cell", choices=["rnn", "gru"], default="rnn")
    p.add_argument("--iterations", type=int, default=20000,
                   help="sequences to train on (-1: one full pass over the text)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=8)
    p.add_argument("--lr", type=float, default=None,
                   help="SGD learning rate (default 0.01 for rnn, 0.05 for gru)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    lr = args.lr if args.lr is not None else (0.05 if args.cell == "gru" else 0.01)
    chars, index, xs, ys = load(args.text, args.seq_len)
    n = len(xs) if args.iterations < 0 else min(args.iterations, len(xs))
    rng = np.random.default_rng(args.seed)
    train, predict, compile_s = build(len(chars), args.hidden, args.cell, rng)
    print(f"{args.text}: {len(chars)} characters in the vocabulary, {len(xs)} sequences of "
          f"{args.seq_len}; {args.cell} cell, hidden {args.hidden}, lr {lr}; training function "
          f"compiled in {compile_s:.3f} s")
    eye = np.eye(len(chars), dtype=np.float32)
    h0 = np.zeros(args.hidden, dtype=np.float32)
    err, t0 = 0.0, time.perf_counter()
    for i in range(n):
        err += train(h0, eye[xs[i]], eye[ys[i]], lr)
        if i % 1000 == 999:
            print(f"Error:{err / 1000:.3f}   ({i + 1} sequences, {time.perf_counter() - t0:.0f} s)")
            err = 0.0
    print("Predictions (one next character after each position of the input):")
    show_predictions(predict, chars, index, args.hidden,
                     ["the answ", "philosop", "what is ", "Truth is", "and the "])


if __name__ == "__main__":
    main()
