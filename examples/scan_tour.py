"""A tour of ``theano.scan``: six small loops, each checked against NumPy.

``scan(fn, sequences, outputs_info, non_sequences, n_steps)`` calls ``fn`` once per step
with, in this order, the current element of every sequence (or several, with taps), the
previous value(s) of every output that is fed back, and the non-sequences::

    python examples/scan_tour.py
"""

import numpy as np

import minigraph as theano
import minigraph.tensor as T


def show(title, got, expect):
    ok = np.allclose(got, expect)
    print(f"{title:<32} {np.round(np.asarray(got), 3).tolist()}   {'ok' if ok else 'MISMATCH'}")
    assert ok


def cumulative_sum():
    """A sequence and one output fed back: ``acc_t = acc_{t-1} + x_t``."""
    x = T.dvector("x")
    sums, _ = theano.scan(lambda x_t, acc: acc + x_t, sequences=x,
                          outputs_info=T.constant(0.0, dtype="float64"))
    f = theano.function([x], sums)
    v = np.arange(1.0, 6.0)
    show("cumulative sum", f(v), np.cumsum(v))


def polynomial():
    """Two sequences (coefficients and powers), a non-sequence, and a sum afterwards."""
    coeffs, x = T.dvector("coeffs"), T.dscalar("x")
    terms, _ = theano.scan(lambda c, p, x: c * x ** p, sequences=[coeffs, T.arange(100)],
                           non_sequences=x)  # the shorter sequence decides the length
    f = theano.function([coeffs, x], terms.sum())
    c = np.array([1.0, 0.0, 2.0, -1.0])
    show("1 + 2x^2 - x^3 at x = 3", f(c, 3.0), np.polyval(c[::-1], 3.0))


def matrix_power():
    """Generation with a symbolic number of steps: ``A, A^2, ..., A^k``."""
    A, k = T.dmatrix("A"), T.iscalar("k")
    powers, _ = theano.scan(lambda prior, A: T.dot(prior, A), outputs_info=T.eye(A.shape[0]),
                            non_sequences=A, n_steps=k)
    f = theano.function([A, k], powers[-1])
    a = np.array([[1.0, 1.0], [0.0, 2.0]])
    show("A ** 5", f(a, 5), np.linalg.matrix_power(a, 5))


def fibonacci():
    """An output with two taps: ``f_t = f_{t-2} + f_{t-1}`` from an initial window."""
    f01 = T.dvector("f01")
    fib, _ = theano.scan(lambda f2, f1: f2 + f1, outputs_info=dict(initial=f01, taps=[-2, -1]),
                         n_steps=10)
    f = theano.function([f01], fib)
    expect = [0, 1]
    while len(expect) < 12:
        expect.append(expect[-2] + expect[-1])
    show("Fibonacci (taps -2, -1)", f(np.array([0.0, 1.0])), expect[2:])


def moving_window():
    """A sequence with three taps: ``x[t-1], x[t], x[t+1]`` at each step."""
    x = T.dvector("x")
    avg, _ = theano.scan(lambda prev, cur, nxt: (prev + cur + nxt) / 3,
                         sequences=dict(input=x, taps=[-1, 0, 1]))
    f = theano.function([x], avg)
    v = np.array([1.0, 4.0, 2.0, 8.0, 5.0, 7.0])
    show("moving average (taps -1, 0, 1)", f(v), np.convolve(v, np.ones(3) / 3, "valid"))


def generate():
    """``n_steps`` alone: a logistic-map orbit from a start value, no sequence at all."""
    x0, r = T.dscalar("x0"), T.dscalar("r")
    orbit, _ = theano.scan(lambda x, r: r * x * (1 - x), outputs_info=x0, non_sequences=r,
                           n_steps=6)
    f = theano.function([x0, r], orbit)
    expect, x = [], 0.2
    for _ in range(6):
        x = 3.7 * x * (1 - x)
        expect.append(x)
    show("logistic map, 6 steps", f(0.2, 3.7), expect)


def gradient_through_the_loop():
    """``theano.grad`` differentiates through scan (back-propagation through time)."""
    x = T.dvector("x")
    acc, _ = theano.scan(lambda x_t, a: a * x_t, sequences=x,
                         outputs_info=T.constant(1.0, dtype="float64"))
    g = theano.grad(acc[-1], x)  # d(prod x)/dx_i = prod of the others
    v = np.array([2.0, 3.0, 4.0])
    show("d prod(x) / dx", theano.function([x], g)(v), [12.0, 8.0, 6.0])


if __name__ == "__main__":
    for demo in (cumulative_sum, polynomial, matrix_power, fibonacci, moving_window, generate,
                 gradient_through_the_loop):
        demo()
    x = T.dvector("x")
    sums, _ = theano.scan(lambda x_t, acc: acc + x_t, sequences=x,
                          outputs_info=T.constant(0.0, dtype="float64"), name="cumsum")
    print("\nThe graph of the cumulative sum, with its loop body:")
    theano.printing.debugprint(sums, print_trace=False)
