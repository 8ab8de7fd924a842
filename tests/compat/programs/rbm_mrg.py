"""A restricted Boltzmann machine trained by CD-k, in the style of the deeplearning.net RBM
tutorial, run unchanged.

Gibbs sampling runs inside ``theano.scan``; each half-step draws with
``theano_rng.binomial(size=..., n=1, p=mean)`` from ``MRG_RandomStreams``, and the updates
that ``scan`` returns (the generators' new states) go to ``theano.function`` together with the
parameter updates. The data are synthetic: noisy copies of a few binary prototypes.
Checks: the free energy equals NumPy's; one CD-3 step equals the NumPy update computed from
the chain's end; every Gibbs step and every call draws new samples; the samples follow their
means; training lowers the reconstruction cross-entropy.
"""

from __future__ import print_function

import numpy

import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams


class RBM(object):
    def __init__(self, input=None, n_visible=784, n_hidden=500, W=None, hbias=None,
                 vbias=None, numpy_rng=None, theano_rng=None):
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        if numpy_rng is None:
            numpy_rng = numpy.random.RandomState(1234)
        if theano_rng is None:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        if W is None:
            initial_W = numpy.asarray(
                numpy_rng.uniform(low=-4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                                  high=4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                                  size=(n_visible, n_hidden)),
                dtype=theano.config.floatX)
            W = theano.shared(value=initial_W, name='W', borrow=True)
        if hbias is None:
            hbias = theano.shared(value=numpy.zeros(n_hidden, dtype=theano.config.floatX),
                                  name='hbias', borrow=True)
        if vbias is None:
            vbias = theano.shared(value=numpy.zeros(n_visible, dtype=theano.config.floatX),
                                  name='vbias', borrow=True)
        self.input = input
        if not input:  # the tutorial's test: a symbolic input is truthy (issue 15, item 3)
            self.input = T.matrix('input')
        self.W = W
        self.hbias = hbias
        self.vbias = vbias
        self.theano_rng = theano_rng
        self.params = [self.W, self.hbias, self.vbias]

    def free_energy(self, v_sample):
        wx_b = T.dot(v_sample, self.W) + self.hbias
        vbias_term = T.dot(v_sample, self.vbias)
        hidden_term = T.sum(T.log(1 + T.exp(wx_b)), axis=1)
        return -hidden_term - vbias_term

    def propup(self, vis):
        pre_sigmoid_activation = T.dot(vis, self.W) + self.hbias
        return [pre_sigmoid_activation, T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_h_given_v(self, v0_sample):
        pre_sigmoid_h1, h1_mean = self.propup(v0_sample)
        h1_sample = self.theano_rng.binomial(size=h1_mean.shape, n=1, p=h1_mean,
                                             dtype=theano.config.floatX)
        return [pre_sigmoid_h1, h1_mean, h1_sample]

    def propdown(self, hid):
        pre_sigmoid_activation = T.dot(hid, self.W.T) + self.vbias
        return [pre_sigmoid_activation, T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_v_given_h(self, h0_sample):
        pre_sigmoid_v1, v1_mean = self.propdown(h0_sample)
        v1_sample = self.theano_rng.binomial(size=v1_mean.shape, n=1, p=v1_mean,
                                             dtype=theano.config.floatX)
        return [pre_sigmoid_v1, v1_mean, v1_sample]

    def gibbs_hvh(self, h0_sample):
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h0_sample)
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v1_sample)
        return [pre_sigmoid_v1, v1_mean, v1_sample, pre_sigmoid_h1, h1_mean, h1_sample]

    def get_cost_updates(self, lr=0.1, persistent=None, k=1):
        pre_sigmoid_ph, ph_mean, ph_sample = self.sample_h_given_v(self.input)
        if persistent is None:
            chain_start = ph_sample
        else:
            chain_start = persistent
        ([pre_sigmoid_nvs, nv_means, nv_samples, pre_sigmoid_nhs, nh_means, nh_samples],
         updates) = theano.scan(self.gibbs_hvh,
                                outputs_info=[None, None, None, None, None, chain_start],
                                n_steps=k, name="gibbs_hvh")
        self.chain = (nv_means, nv_samples, nh_samples)  # kept for the checks below
        chain_end = nv_samples[-1]
        cost = T.mean(self.free_energy(self.input)) - T.mean(self.free_energy(chain_end))
        gparams = T.grad(cost, self.params, consider_constant=[chain_end])
        for gparam, param in zip(gparams, self.params):
            updates[param] = param - gparam * T.cast(lr, dtype=theano.config.floatX)
        monitoring_cost = self.get_reconstruction_cost(updates, pre_sigmoid_nvs[-1])
        return monitoring_cost, updates

    def get_reconstruction_cost(self, updates, pre_sigmoid_nv):
        cross_entropy = T.mean(
            T.sum(self.input * T.log(T.nnet.sigmoid(pre_sigmoid_nv)) +
                  (1 - self.input) * T.log(1 - T.nnet.sigmoid(pre_sigmoid_nv)), axis=1))
        return cross_entropy


def make_data(rng, n_examples, n_visible, n_prototypes=4, flip=0.05):
    prototypes = rng.binomial(1, 0.5, size=(n_prototypes, n_visible))
    rows = prototypes[rng.randint(n_prototypes, size=n_examples)]
    flips = rng.binomial(1, flip, size=rows.shape)
    return numpy.asarray(numpy.abs(rows - flips), dtype=theano.config.floatX)


def numpy_free_energy(v, W, hbias, vbias):
    return -numpy.sum(numpy.log1p(numpy.exp(v.dot(W) + hbias)), axis=1) - v.dot(vbias)


def numpy_cd_update(x, chain_end, W, hbias, vbias, lr):
    """Parameters after one step on mean F(x) - mean F(chain_end), chain_end held fixed."""
    def sig(a):
        return 1 / (1 + numpy.exp(-a))
    hx, hv = sig(x.dot(W) + hbias), sig(chain_end.dot(W) + hbias)
    n = x.shape[0]
    gW = (-x.T.dot(hx) + chain_end.T.dot(hv)) / n
    gh = (-hx.sum(axis=0) + hv.sum(axis=0)) / n
    gv = (-x.sum(axis=0) + chain_end.sum(axis=0)) / n
    return [W - lr * gW, hbias - lr * gh, vbias - lr * gv]


def main():
    rng = numpy.random.RandomState(123)
    n_visible, n_hidden, batch_size, lr, k = 36, 16, 20, 0.1, 3
    data = make_data(rng, 300, n_visible)
    train_set_x = theano.shared(data, borrow=True)
    n_train_batches = data.shape[0] // batch_size

    index = T.lscalar()
    x = T.matrix('x')
    rbm = RBM(input=x, n_visible=n_visible, n_hidden=n_hidden, numpy_rng=rng,
              theano_rng=RandomStreams(rng.randint(2 ** 30)))
    cost, updates = rbm.get_cost_updates(lr=lr, persistent=None, k=k)
    nv_means, nv_samples, nh_samples = rbm.chain
    train_rbm = theano.function([index], [cost, nv_means, nv_samples, nh_samples],
                                updates=updates,
                                givens={x: train_set_x[index * batch_size:
                                                       (index + 1) * batch_size]},
                                name='train_rbm')
    tol = 1e-4 if theano.config.floatX == 'float32' else 1e-9

    v = T.matrix('v')
    free_energy = theano.function([v], rbm.free_energy(v))
    numpy.testing.assert_allclose(free_energy(data[:5]),
                                  numpy_free_energy(data[:5], *[p.get_value()
                                                                for p in rbm.params]),
                                  rtol=tol)

    # one CD-3 step against NumPy, from the chain end the step sampled
    before = [p.get_value() for p in rbm.params]
    _, means, samples, hiddens = train_rbm(0)
    assert samples.shape == (k, batch_size, n_visible) and hiddens.shape[0] == k
    assert set(numpy.unique(samples)) <= {0.0, 1.0}
    want = numpy_cd_update(data[:batch_size], samples[-1], *before, lr=lr)
    for param, w in zip(rbm.params, want):
        numpy.testing.assert_allclose(param.get_value(), w, rtol=tol, atol=tol)
    for step in range(1, k):  # every Gibbs step draws afresh
        assert not numpy.array_equal(hiddens[step], hiddens[step - 1])
    # samples follow their means: 3 * 20 * 36 Bernoulli draws
    spread = numpy.sqrt(numpy.sum(means * (1 - means)))
    assert abs(numpy.sum(samples - means)) < 6 * spread

    # the same parameters again: the generators moved on, so the chain differs
    for param, value in zip(rbm.params, before):
        param.set_value(value)
    again = train_rbm(0)[2]
    assert not numpy.array_equal(again, samples), 'each call must continue the streams'

    costs = []
    for epoch in range(20):
        c = [train_rbm(i)[0] for i in range(n_train_batches)]
        costs.append(-numpy.mean(c))  # the tutorial's monitor is minus the cross-entropy
        print('Training epoch %d, reconstruction cross-entropy %.4f' % (epoch, costs[-1]))
    assert costs[-1] < 0.7 * costs[0], 'training did not lower the reconstruction cost'
    print('RBM with MRG sampling inside scan: OK')


if __name__ == '__main__':
    main()
