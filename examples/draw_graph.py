"""Seeing the graph: draw two training steps with ``theano.printing.pydotprint``.

Draws, to SVG and PNG in ``--out`` (default: a ``minigraph_graphs`` folder in the temp
directory):

- a logistic-regression SGD step, as it runs (after rewriting) and before/after side by
  side: inputs, shared parameters, constants, the output and the updated parameters each
  have their own shape and colour, and every edge shows its dtype and static shape;
- the char-RNN training step of ``models.charrnn`` (small configuration): the GRU layers
  are the fused GRU kernel op, one node each, and their gradients likewise;
- the same model with LSTM cells, whose loop is a ``theano.scan``: drawn as a cluster with
  its inner graph, sequences, carries and constants entering at its border.

Open the SVGs in a browser: hovering over a node shows the line of code that created it.
``--large`` also times the drawing of the full-size 3 x 512 GRU training step (the
graph, its gradient and Adam's updates), which should take well under 5 seconds::

    python examples/draw_graph.py
    python examples/draw_graph.py --out graphs --large
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads BLAS

import argparse  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402
from minigraph.pydot import to_graphviz  # noqa: E402


def logistic_regression_step(n_in=64, n_out=10, lr=0.1):
    """A compiled SGD step of multiclass logistic regression: ``train(x, y) -> cost``."""
    x, y = T.matrix("x"), T.ivector("y")
    W = theano.shared(np.zeros((n_in, n_out), dtype=theano.config.floatX), name="W")
    b = theano.shared(np.zeros(n_out, dtype=theano.config.floatX), name="b")
    p_y = T.nnet.softmax(T.dot(x, W) + b)
    cost = T.nnet.categorical_crossentropy(p_y, y).mean()
    gW, gb = theano.grad(cost, [W, b])
    return theano.function([x, y], cost, updates=[(W, W - lr * gW), (b, b - lr * gb)],
                           name="logreg_train")


def charrnn_step(cell="gru", layers=2, hidden=64, vocab=65):
    """The char-RNN training step (loss, accuracy, new state; Adam updates)."""
    from models.charrnn.model import CharRNN, ModelConfig

    config = ModelConfig(vocab_size=vocab, cell=cell, layers=layers, hidden=hidden)
    return CharRNN(config).compile_train()


def draw(fn, out, name, **options):
    """Write ``name``.svg and ``name``.png; return the two paths."""
    return [theano.printing.pydotprint(fn, os.path.join(out, f"{name}.{fmt}"),
                                       print_output_file=False, **options)
            for fmt in ("svg", "png")]


def time_large(repeats=3):
    """Median seconds to draw the 3 x 512 GRU training step to SVG, after and before."""
    from minigraph.pydot import _render

    fn = charrnn_step(layers=3, hidden=512)
    for stage in ("after", "before"):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            g = to_graphviz(fn, stage=stage)
            _render(g, "svg")
            times.append(time.perf_counter() - t0)
        n_nodes = len(re.findall(r"^\s*n\d+ \[", g.source, re.M))  # not the legend's
        print(f"3x512 char-RNN training step, {stage} rewriting ({n_nodes} drawn nodes): "
              f"median {statistics.median(times):.2f} s over {repeats} (min {min(times):.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(),
                                                      "minigraph_graphs"),
                        help="folder for the pictures (created if missing)")
    parser.add_argument("--large", action="store_true",
                        help="also time drawing the 3 x 512 char-RNN training step")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    jobs = [("logreg_train", logistic_regression_step, {}),
            ("logreg_train_before_after", logistic_regression_step, {"stage": "both"}),
            ("charrnn_gru_train", charrnn_step, {}),
            ("charrnn_lstm_train", lambda: charrnn_step(cell="lstm", layers=1, hidden=32), {})]
    for name, build, options in jobs:
        fn = build()
        t0 = time.perf_counter()
        paths = draw(fn, args.out, name, **options)
        print(f"{name}: {', '.join(paths)} ({time.perf_counter() - t0:.2f} s)")
    if args.large:
        print(f"threads: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; "
              f"Graphviz's dot runs on one core")
        time_large()


if __name__ == "__main__":
    main()
