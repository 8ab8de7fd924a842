"""Multiclass logistic regression trained with minibatch SGD: the classic Theano tutorial.

This is deeplearning.net's ``logistic_sgd.py`` written for minigraph: the data sets live in
shared variables (copied once, then sliced inside the compiled function), each minibatch is
chosen by an index with the ``givens`` idiom, and the updates are written out by hand.
The data is generated (10 Gaussian classes in 64 dimensions, "blurry digits") so the example
needs nothing beyond NumPy; it runs in a few seconds::

    python examples/logistic_regression.py --epochs 10
"""

import argparse
import time

import numpy as np

import minigraph as theano
import minigraph.tensor as T


def make_data(n_classes=10, n_features=64, sizes=(6000, 1000, 1000), noise=3.0, seed=0):
    """Gaussian classes around random centres: ``[(x, y) for train, valid, test]``."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features))
    sets = []
    for n in sizes:
        y = rng.integers(0, n_classes, size=n)
        x = centres[y] + noise * rng.standard_normal((n, n_features))
        sets.append((x, y))
    return sets


def shared_dataset(x, y):
    """Put a data set in shared variables: floatX inputs and int32 labels.

    Storing the data once in shared variables is what made Theano fast on a GPU; here it
    saves converting the arrays on every call.
    """
    shared_x = theano.shared(np.asarray(x, dtype=theano.config.floatX), name="data_x")
    shared_y = theano.shared(np.asarray(y, dtype="int32"), name="data_y")
    return shared_x, shared_y


class LogisticRegression:
    """``P(y = i | x) = softmax(x W + b)_i``, with weights in shared variables."""

    def __init__(self, x, n_in, n_out):
        floatx = theano.config.floatX
        self.W = theano.shared(np.zeros((n_in, n_out), dtype=floatx), name="W")
        self.b = theano.shared(np.zeros(n_out, dtype=floatx), name="b")
        self.p_y_given_x = T.nnet.softmax(T.dot(x, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]

    def negative_log_likelihood(self, y):
        """Mean of ``-log P(y | x)`` over the minibatch (rewritten to a stable log-softmax)."""
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """Fraction of the minibatch the model gets wrong."""
        return T.mean(T.neq(self.y_pred, y))


def build(datasets, batch_size, learning_rate):
    """Compile the training step and the validation / test error functions."""
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = datasets
    index = T.lscalar("index")  # which minibatch
    x = T.matrix("x")
    y = T.ivector("y")
    model = LogisticRegression(x, n_in=train_x.get_value(borrow=True).shape[1], n_out=10)
    cost = model.negative_log_likelihood(y)
    g_W, g_b = theano.grad(cost, [model.W, model.b])
    # minigraph.updates.sgd(cost, model.params, learning_rate) builds the same list
    updates = [(model.W, model.W - learning_rate * g_W),
               (model.b, model.b - learning_rate * g_b)]
    batch = slice(index * batch_size, (index + 1) * batch_size)
    train = theano.function([index], cost, updates=updates, name="train",
                            givens={x: train_x[batch], y: train_y[batch]})
    evaluate = {name: theano.function([index], model.errors(y), name=name,
                                      givens={x: sx[batch], y: sy[batch]})
                for name, (sx, sy) in (("valid", (valid_x, valid_y)),
                                       ("test", (test_x, test_y)))}
    return train, evaluate


def mean_over_batches(fn, n_batches):
    return float(np.mean([fn(i) for i in range(n_batches)]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    args = parser.parse_args(argv)

    raw = make_data(seed=args.seed)
    datasets = [shared_dataset(x, y) for x, y in raw]
    n_batches = [len(y) // args.batch_size for _, y in raw]
    t0 = time.perf_counter()
    train, evaluate = build(datasets, args.batch_size, args.learning_rate)
    print(f"compiled in {time.perf_counter() - t0:.2f} s; {n_batches[0]} minibatches of "
          f"{args.batch_size} per epoch")
    history = []
    before = mean_over_batches(evaluate["valid"], n_batches[1])
    print(f"before training: validation error {100 * before:5.2f} %")
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = mean_over_batches(train, n_batches[0])
        valid = mean_over_batches(evaluate["valid"], n_batches[1])
        history.append(loss)
        print(f"epoch {epoch:3d}  train loss {loss:.4f}  validation error {100 * valid:5.2f} %")
    test = mean_over_batches(evaluate["test"], n_batches[2])
    print(f"test error {100 * test:.2f} % after {args.epochs} epochs "
          f"({time.perf_counter() - t0:.2f} s)")
    return history


if __name__ == "__main__":
    main()
