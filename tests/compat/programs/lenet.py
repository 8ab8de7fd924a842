"""The deeplearning.net LeNet tutorial's program, small, on synthetic images, run unchanged.

``LeNetConvPoolLayer`` (``conv2d`` with ``filter_shape``/``input_shape``, ``pool.pool_2d`` with
``ignore_border=True``, ``tanh(pooled + b.dimshuffle('x', 0, 'x', 'x'))``), ``HiddenLayer``,
``LogisticRegression``, minibatches through ``givens`` over shared datasets and plain SGD, as in
``evaluate_lenet5``, with two filters banks of 4 and 6 instead of 20 and 50. The data: 28x28
images of two classes (horizontal or vertical bars at random places, on noise).
Checks: the first layer's output equals a NumPy convolution + max-pooling + tanh, the old API
(``conv.conv2d`` with ``image_shape``, ``downsample.max_pool_2d``) gives the same values,
training lowers the cost, and validation error ends far below chance.
"""

from __future__ import print_function

import numpy

import theano
import theano.tensor as T
from theano.tensor.nnet import conv2d
from theano.tensor.signal import pool


class LogisticRegression(object):
    def __init__(self, input, n_in, n_out):
        self.W = theano.shared(value=numpy.zeros((n_in, n_out), dtype=theano.config.floatX),
                               name='W', borrow=True)
        self.b = theano.shared(value=numpy.zeros((n_out,), dtype=theano.config.floatX),
                               name='b', borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]

    def negative_log_likelihood(self, y):
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        return T.mean(T.neq(self.y_pred, y))


class HiddenLayer(object):
    def __init__(self, rng, input, n_in, n_out, activation=T.tanh):
        bound = numpy.sqrt(6. / (n_in + n_out))
        self.W = theano.shared(numpy.asarray(rng.uniform(low=-bound, high=bound,
                                                         size=(n_in, n_out)),
                                             dtype=theano.config.floatX), name='W', borrow=True)
        self.b = theano.shared(numpy.zeros((n_out,), dtype=theano.config.floatX), name='b',
                               borrow=True)
        self.output = activation(T.dot(input, self.W) + self.b)
        self.params = [self.W, self.b]


class LeNetConvPoolLayer(object):
    """Pool Layer of a convolutional network """

    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2)):
        assert image_shape[1] == filter_shape[1]
        self.input = input
        fan_in = numpy.prod(filter_shape[1:])
        fan_out = (filter_shape[0] * numpy.prod(filter_shape[2:]) // numpy.prod(poolsize))
        W_bound = numpy.sqrt(6. / (fan_in + fan_out))
        self.W = theano.shared(
            numpy.asarray(rng.uniform(low=-W_bound, high=W_bound, size=filter_shape),
                          dtype=theano.config.floatX),
            borrow=True)
        b_values = numpy.zeros((filter_shape[0],), dtype=theano.config.floatX)
        self.b = theano.shared(value=b_values, borrow=True)
        conv_out = conv2d(input=input, filters=self.W, filter_shape=filter_shape,
                          input_shape=image_shape)
        pooled_out = pool.pool_2d(input=conv_out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled_out + self.b.dimshuffle('x', 0, 'x', 'x'))
        self.params = [self.W, self.b]
        self.input = input


def make_images(rng, n):
    """Horizontal (class 0) or vertical (class 1) bars, 2 pixels thick and 10 to 16 long, at
    random places, on noise."""
    x = rng.normal(0, 0.3, size=(n, 28, 28))
    y = rng.randint(0, 2, size=n)
    for i in range(n):
        length = rng.randint(10, 17)
        r, c = rng.randint(0, 28 - length), rng.randint(0, 26)
        if y[i] == 0:
            x[i, c:c + 2, r:r + length] += 1.0
        else:
            x[i, r:r + length, c:c + 2] += 1.0
    return x.reshape(n, 28 * 28), y


def shared_dataset(data_xy, borrow=True):
    data_x, data_y = data_xy
    shared_x = theano.shared(numpy.asarray(data_x, dtype=theano.config.floatX), borrow=borrow)
    shared_y = theano.shared(numpy.asarray(data_y, dtype=theano.config.floatX), borrow=borrow)
    return shared_x, T.cast(shared_y, 'int32')


def numpy_conv_pool_tanh(images, W, b):
    """What the first layer computes: a true (flipped-kernel) valid convolution, 2x2 max pool."""
    windows = numpy.lib.stride_tricks.sliding_window_view(images, W.shape[2:], axis=(2, 3))
    conv = numpy.einsum('ncijab,fcab->nfij', windows, W[:, :, ::-1, ::-1])
    n, f, h, w = conv.shape
    pooled = conv[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, f, h // 2, 2, w // 2, 2)
    return numpy.tanh(pooled.max(axis=(3, 5)) + b[None, :, None, None])


def evaluate_lenet5(learning_rate=0.2, n_epochs=8, nkerns=(4, 6), batch_size=20):
    rng = numpy.random.RandomState(23455)
    train_set_x, train_set_y = shared_dataset(make_images(rng, 600))
    valid_set_x, valid_set_y = shared_dataset(make_images(rng, 100))
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size

    index = T.lscalar()
    x = T.matrix('x')
    y = T.ivector('y')

    print('... building the model')
    layer0_input = x.reshape((batch_size, 1, 28, 28))
    layer0 = LeNetConvPoolLayer(rng, input=layer0_input, image_shape=(batch_size, 1, 28, 28),
                                filter_shape=(nkerns[0], 1, 5, 5), poolsize=(2, 2))
    layer1 = LeNetConvPoolLayer(rng, input=layer0.output,
                                image_shape=(batch_size, nkerns[0], 12, 12),
                                filter_shape=(nkerns[1], nkerns[0], 5, 5), poolsize=(2, 2))
    layer2 = HiddenLayer(rng, input=layer1.output.flatten(2), n_in=nkerns[1] * 4 * 4,
                         n_out=32, activation=T.tanh)
    layer3 = LogisticRegression(input=layer2.output, n_in=32, n_out=2)
    cost = layer3.negative_log_likelihood(y)

    validate_model = theano.function(
        [index], layer3.errors(y),
        givens={x: valid_set_x[index * batch_size: (index + 1) * batch_size],
                y: valid_set_y[index * batch_size: (index + 1) * batch_size]})
    params = layer3.params + layer2.params + layer1.params + layer0.params
    grads = T.grad(cost, params)
    updates = [(param_i, param_i - learning_rate * grad_i)
               for param_i, grad_i in zip(params, grads)]
    train_model = theano.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size],
                y: train_set_y[index * batch_size: (index + 1) * batch_size]})

    # the first layer, checked against NumPy before any training
    first = theano.function([index], layer0.output,
                            givens={x: train_set_x[index * batch_size:(index + 1) * batch_size]})
    images = train_set_x.get_value()[:batch_size].reshape(batch_size, 1, 28, 28)
    want = numpy_conv_pool_tanh(images, layer0.W.get_value(), layer0.b.get_value())
    numpy.testing.assert_allclose(first(0), want, rtol=1e-4, atol=1e-5)
    check_old_api(layer0, images)

    print('... training')
    epoch_costs = []
    for epoch in range(n_epochs):
        costs = [train_model(i) for i in range(n_train_batches)]
        epoch_costs.append(numpy.mean(costs))
        valid_error = numpy.mean([validate_model(i) for i in range(n_valid_batches)])
        print('epoch %i, cost %f, validation error %f %%' % (epoch, epoch_costs[-1],
                                                              valid_error * 100.))
    assert epoch_costs[-1] < 0.5 * epoch_costs[0], epoch_costs
    assert valid_error < 0.25, valid_error  # chance is 0.5
    return epoch_costs, valid_error


def check_old_api(layer, images):
    """Theano 0.7's names for the same layer give the same values."""
    from theano.tensor.nnet import conv
    from theano.tensor.signal import downsample

    inp = T.tensor4('inp')
    out = T.tanh(downsample.max_pool_2d(
        conv.conv2d(inp, layer.W, filter_shape=layer.W.get_value().shape,
                    image_shape=images.shape), (2, 2), ignore_border=True)
        + layer.b.dimshuffle('x', 0, 'x', 'x'))
    want = numpy_conv_pool_tanh(images, layer.W.get_value(), layer.b.get_value())
    got = theano.function([inp], out)(images.astype(theano.config.floatX))
    numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


if __name__ == '__main__':
    evaluate_lenet5()
    print('lenet: OK')
