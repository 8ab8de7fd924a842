"""The deeplearning.net MLP tutorial's program, on synthetic data, run unchanged on minigraph.

``HiddenLayer`` (tanh), ``LogisticRegression`` (softmax, ``negative_log_likelihood`` through
``T.log(p_y_given_x)[T.arange(y.shape[0]), y]``, ``errors``), the ``MLP`` with its L1 and L2
terms, ``shared_dataset`` with ``T.cast(shared_y, 'int32')``, and minibatches chosen by an
index through ``givens`` slicing the shared datasets. Checks: one minibatch step equals the
same step in NumPy, training lowers the cost, and validation error ends far below chance.
"""

from __future__ import print_function

import numpy

import theano
import theano.tensor as T


class LogisticRegression(object):
    def __init__(self, input, n_in, n_out):
        self.W = theano.shared(value=numpy.zeros((n_in, n_out), dtype=theano.config.floatX),
                               name='W', borrow=True)
        self.b = theano.shared(value=numpy.zeros((n_out,), dtype=theano.config.floatX),
                               name='b', borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        if y.ndim != self.y_pred.ndim:
            raise TypeError('y should have the same shape as self.y_pred',
                            ('y', y.type, 'y_pred', self.y_pred.type))
        if y.dtype.startswith('int'):
            return T.mean(T.neq(self.y_pred, y))
        else:
            raise NotImplementedError()


class HiddenLayer(object):
    def __init__(self, rng, input, n_in, n_out, W=None, b=None, activation=T.tanh):
        self.input = input
        if W is None:
            W_values = numpy.asarray(
                rng.uniform(low=-numpy.sqrt(6. / (n_in + n_out)),
                            high=numpy.sqrt(6. / (n_in + n_out)), size=(n_in, n_out)),
                dtype=theano.config.floatX)
            if activation == theano.tensor.nnet.sigmoid:
                W_values *= 4
            W = theano.shared(value=W_values, name='W', borrow=True)
        if b is None:
            b_values = numpy.zeros((n_out,), dtype=theano.config.floatX)
            b = theano.shared(value=b_values, name='b', borrow=True)
        self.W = W
        self.b = b
        lin_output = T.dot(input, self.W) + self.b
        self.output = (lin_output if activation is None else activation(lin_output))
        self.params = [self.W, self.b]


class MLP(object):
    def __init__(self, rng, input, n_in, n_hidden, n_out):
        self.hiddenLayer = HiddenLayer(rng=rng, input=input, n_in=n_in, n_out=n_hidden,
                                       activation=T.tanh)
        self.logRegressionLayer = LogisticRegression(input=self.hiddenLayer.output,
                                                     n_in=n_hidden, n_out=n_out)
        self.L1 = abs(self.hiddenLayer.W).sum() + abs(self.logRegressionLayer.W).sum()
        self.L2_sqr = (self.hiddenLayer.W ** 2).sum() + (self.logRegressionLayer.W ** 2).sum()
        self.negative_log_likelihood = self.logRegressionLayer.negative_log_likelihood
        self.errors = self.logRegressionLayer.errors
        self.params = self.hiddenLayer.params + self.logRegressionLayer.params
        self.input = input


def shared_dataset(data_xy, borrow=True):
    data_x, data_y = data_xy
    shared_x = theano.shared(numpy.asarray(data_x, dtype=theano.config.floatX), borrow=borrow)
    shared_y = theano.shared(numpy.asarray(data_y, dtype=theano.config.floatX), borrow=borrow)
    return shared_x, T.cast(shared_y, 'int32')


def make_data(rng, n, centers):
    """Gaussian blobs around ``centers``, one class per centre, passed through a nonlinearity."""
    y = rng.randint(0, len(centers), size=n)
    x = centers[y] + 2.0 * rng.randn(n, centers.shape[1])
    return numpy.tanh(x), y


def numpy_step(params, x, y, lr, L1_reg, L2_reg):
    """One SGD step of the MLP in NumPy (hand-written backpropagation)."""
    W1, b1, W2, b2 = params
    h = numpy.tanh(x.dot(W1) + b1)
    a = h.dot(W2) + b2
    p = numpy.exp(a - a.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    cost = (-numpy.log(p[numpy.arange(n), y]).mean() + L1_reg * (abs(W1).sum() + abs(W2).sum())
            + L2_reg * ((W1 ** 2).sum() + (W2 ** 2).sum()))
    da = p.copy()
    da[numpy.arange(n), y] -= 1
    da /= n
    gW2 = h.T.dot(da) + L1_reg * numpy.sign(W2) + 2 * L2_reg * W2
    dh = da.dot(W2.T) * (1 - h ** 2)
    gW1 = x.T.dot(dh) + L1_reg * numpy.sign(W1) + 2 * L2_reg * W1
    grads = [gW1, dh.sum(axis=0), gW2, da.sum(axis=0)]
    return cost, [p_ - lr * g for p_, g in zip(params, grads)]


def test_mlp(learning_rate=0.1, L1_reg=0.0001, L2_reg=0.0001, n_epochs=30, batch_size=20,
             n_hidden=33):
    rng = numpy.random.RandomState(1234)
    centers = rng.randn(10, 24) * 1.5
    train_set_x, train_set_y = shared_dataset(make_data(rng, 1000, centers))
    valid_set_x, valid_set_y = shared_dataset(make_data(rng, 300, centers))
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size

    print('... building the model')
    index = T.lscalar()
    x = T.matrix('x')
    y = T.ivector('y')
    classifier = MLP(rng=rng, input=x, n_in=24, n_hidden=n_hidden, n_out=10)
    cost = (classifier.negative_log_likelihood(y) + L1_reg * classifier.L1
            + L2_reg * classifier.L2_sqr)
    validate_model = theano.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: valid_set_x[index * batch_size:(index + 1) * batch_size],
                y: valid_set_y[index * batch_size:(index + 1) * batch_size]})
    gparams = [T.grad(cost, param) for param in classifier.params]
    updates = [(param, param - learning_rate * gparam)
               for param, gparam in zip(classifier.params, gparams)]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size],
                y: train_set_y[index * batch_size: (index + 1) * batch_size]})

    # one minibatch step, checked against NumPy
    before = [p.get_value() for p in classifier.params]
    xb = train_set_x.get_value()[3 * batch_size:4 * batch_size]
    yb = train_set_y.owner.inputs[0].get_value()[3 * batch_size:4 * batch_size].astype('int32')
    want_cost, want_params = numpy_step(before, xb, yb, learning_rate, L1_reg, L2_reg)
    numpy.testing.assert_allclose(train_model(3), want_cost, rtol=1e-6)
    for param, want in zip(classifier.params, want_params):
        numpy.testing.assert_allclose(param.get_value(), want, rtol=1e-6, atol=1e-9)

    print('... training')
    first = last = None
    for epoch in range(n_epochs):
        costs = [train_model(i) for i in range(n_train_batches)]
        first = numpy.mean(costs) if first is None else first
        last = numpy.mean(costs)
    this_validation_loss = numpy.mean([validate_model(i) for i in range(n_valid_batches)])
    print('cost %.4f -> %.4f, validation error %.2f %%'
          % (first, last, this_validation_loss * 100.))
    assert last < 0.5 * first, 'training did not lower the cost'
    assert this_validation_loss < 0.3, 'validation error is not far below chance (90 %)'


if __name__ == '__main__':
    test_mlp()
