"""A denoising autoencoder in the style of the deeplearning.net dA tutorial, run unchanged.

Tied weights, sigmoid units, the cross-entropy reconstruction cost and plain SGD; the input
is corrupted by ``theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level) *
input`` from ``MRG_RandomStreams``. The data are synthetic: noisy copies of a few binary
prototypes. Checks: one minibatch step (with the mask that step drew) equals the same step
in NumPy; the masks drop about ``corruption_level`` of the inputs and change on every call;
training lowers the cost.
"""

from __future__ import print_function

import numpy

import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams


class dA(object):
    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
                 W=None, bhid=None, bvis=None):
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        if not theano_rng:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        if not W:
            initial_W = numpy.asarray(
                numpy_rng.uniform(low=-4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                                  high=4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                                  size=(n_visible, n_hidden)),
                dtype=theano.config.floatX)
            W = theano.shared(value=initial_W, name='W', borrow=True)
        if not bvis:
            bvis = theano.shared(value=numpy.zeros(n_visible, dtype=theano.config.floatX),
                                 borrow=True)
        if not bhid:
            bhid = theano.shared(value=numpy.zeros(n_hidden, dtype=theano.config.floatX),
                                 name='b', borrow=True)
        self.W = W
        self.b = bhid
        self.b_prime = bvis
        self.W_prime = self.W.T
        self.theano_rng = theano_rng
        if input is None:
            self.x = T.dmatrix(name='input')
        else:
            self.x = input
        self.params = [self.W, self.b, self.b_prime]

    def get_corrupted_input(self, input, corruption_level):
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                        dtype=theano.config.floatX) * input

    def get_hidden_values(self, input):
        return T.nnet.sigmoid(T.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        return T.nnet.sigmoid(T.dot(hidden, self.W_prime) + self.b_prime)

    def get_cost_updates(self, corruption_level, learning_rate):
        tilde_x = self.get_corrupted_input(self.x, corruption_level)
        self.tilde_x = tilde_x  # kept so that the check below can see the mask drawn
        y = self.get_hidden_values(tilde_x)
        z = self.get_reconstructed_input(y)
        L = - T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1)
        cost = T.mean(L)
        gparams = T.grad(cost, self.params)
        updates = [(param, param - learning_rate * gparam)
                   for param, gparam in zip(self.params, gparams)]
        return (cost, updates)


def make_data(rng, n_examples, n_visible, n_prototypes=4, flip=0.05):
    prototypes = rng.binomial(1, 0.5, size=(n_prototypes, n_visible))
    rows = prototypes[rng.randint(n_prototypes, size=n_examples)]
    flips = rng.binomial(1, flip, size=rows.shape)
    return numpy.asarray(numpy.abs(rows - flips), dtype=theano.config.floatX)


def sigmoid(a):
    return 1 / (1 + numpy.exp(-a))


def numpy_step(x, tilde, W, b, b_prime, lr):
    """The cost and the SGD step of the tutorial's dA, by hand."""
    y = sigmoid(tilde.dot(W) + b)
    z = sigmoid(y.dot(W.T) + b_prime)
    cost = numpy.mean(-numpy.sum(x * numpy.log(z) + (1 - x) * numpy.log(1 - z), axis=1))
    dz = (z - x) / x.shape[0]  # d cost / d (pre-sigmoid of z)
    dy = dz.dot(W) * y * (1 - y)
    gW = tilde.T.dot(dy) + dz.T.dot(y)  # W is used twice: encoder and (transposed) decoder
    return cost, [W - lr * gW, b - lr * dy.sum(axis=0), b_prime - lr * dz.sum(axis=0)]


def main():
    rng = numpy.random.RandomState(123)
    n_visible, n_hidden, batch_size, lr, corruption = 64, 24, 20, 0.1, 0.3
    data = make_data(rng, 400, n_visible)
    train_set_x = theano.shared(data, borrow=True)
    n_train_batches = data.shape[0] // batch_size

    index = T.lscalar()
    x = T.matrix('x')
    da = dA(numpy_rng=rng, theano_rng=RandomStreams(rng.randint(2 ** 30)), input=x,
            n_visible=n_visible, n_hidden=n_hidden)
    cost, updates = da.get_cost_updates(corruption_level=corruption, learning_rate=lr)
    train_da = theano.function([index], [cost, da.tilde_x], updates=updates,
                               givens={x: train_set_x[index * batch_size:
                                                      (index + 1) * batch_size]})

    # one step against NumPy, with the corrupted input this step drew
    before = [p.get_value() for p in da.params]
    batch = data[:batch_size]
    got_cost, tilde = train_da(0)
    mask = tilde == batch
    assert numpy.all((tilde == 0) | mask), 'corruption must zero inputs or keep them'
    dropped = 1 - mask[batch == 1].mean()
    assert abs(dropped - corruption) < 0.1, 'the mask should drop about 30 % of the ones'
    want_cost, want_params = numpy_step(batch, tilde, *before, lr=lr)
    tol = 1e-4 if theano.config.floatX == 'float32' else 1e-9
    numpy.testing.assert_allclose(got_cost, want_cost, rtol=tol)
    for param, want in zip(da.params, want_params):
        numpy.testing.assert_allclose(param.get_value(), want, rtol=tol, atol=tol)
    second = train_da(0)[1]
    assert not numpy.array_equal(second, tilde), 'each call must draw a new mask'

    costs = []
    for epoch in range(15):
        c = [train_da(i)[0] for i in range(n_train_batches)]
        costs.append(numpy.mean(c))
        print('Training epoch %d, cost %.4f' % (epoch, costs[-1]))
    assert costs[-1] < 0.6 * costs[0], 'training did not lower the cost'
    print('dA with MRG corruption: OK')


if __name__ == '__main__':
    main()
