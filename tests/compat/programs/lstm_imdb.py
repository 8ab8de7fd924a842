"""The IMDB sentiment LSTM tutorial's program, on synthetic sequences, run unchanged.

Word embeddings looked up with ``Wemb[x.flatten()].reshape(...)``, an LSTM layer whose
``theano.scan`` iterates over a mask sequence and the projected inputs
(``c = m_[:, None] * c + (1. - m_)[:, None] * c_``: padding steps keep the state), mean
pooling over the valid steps, a softmax, the ``-log(pred[arange(n), y] + off)`` cost, and
adadelta written by hand as two functions (``f_grad_shared`` and ``f_update``), as the
tutorial does. The task: a sequence of word ids is positive when the word 3 occurs more
often than the word 7. Checks: the predicted probabilities and the first adadelta update of
the classifier equal NumPy's, training lowers the cost, and held-out accuracy beats chance.
"""

from __future__ import print_function

from collections import OrderedDict

import numpy
import theano
from theano import config
import theano.tensor as tensor

try:  # the tutorial's generator; the plain one when MRG streams are not available
    from theano.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams
except ImportError:
    from theano.tensor.shared_randomstreams import RandomStreams

SEED = 123
numpy.random.seed(SEED)


def numpy_floatX(data):
    return numpy.asarray(data, dtype=config.floatX)


def _p(pp, name):
    return '%s_%s' % (pp, name)


def ortho_weight(ndim):
    W = numpy.random.randn(ndim, ndim)
    u, s, v = numpy.linalg.svd(W)
    return u.astype(config.floatX)


def param_init_lstm(options, params, prefix='lstm'):
    dim = options['dim_proj']
    params[_p(prefix, 'W')] = numpy.concatenate([ortho_weight(dim) for _ in range(4)], axis=1)
    params[_p(prefix, 'U')] = numpy.concatenate([ortho_weight(dim) for _ in range(4)], axis=1)
    params[_p(prefix, 'b')] = numpy.zeros((4 * dim,)).astype(config.floatX)
    return params


def init_params(options):
    params = OrderedDict()
    randn = numpy.random.rand(options['n_words'], options['dim_proj'])
    params['Wemb'] = (0.01 * randn).astype(config.floatX)
    params = param_init_lstm(options, params, prefix='lstm')
    params['U'] = 0.01 * numpy.random.randn(options['dim_proj'], options['ydim'])
    params['U'] = params['U'].astype(config.floatX)
    params['b'] = numpy.zeros((options['ydim'],)).astype(config.floatX)
    return params


def init_tparams(params):
    tparams = OrderedDict()
    for kk, pp in params.items():
        tparams[kk] = theano.shared(params[kk], name=kk)
    return tparams


def lstm_layer(tparams, state_below, options, prefix='lstm', mask=None):
    nsteps = state_below.shape[0]
    if state_below.ndim == 3:
        n_samples = state_below.shape[1]
    else:
        n_samples = 1
    assert mask is not None

    def _slice(_x, n, dim):
        if _x.ndim == 3:
            return _x[:, :, n * dim:(n + 1) * dim]
        return _x[:, n * dim:(n + 1) * dim]

    def _step(m_, x_, h_, c_):
        preact = tensor.dot(h_, tparams[_p(prefix, 'U')])
        preact += x_
        i = tensor.nnet.sigmoid(_slice(preact, 0, options['dim_proj']))
        f = tensor.nnet.sigmoid(_slice(preact, 1, options['dim_proj']))
        o = tensor.nnet.sigmoid(_slice(preact, 2, options['dim_proj']))
        c = tensor.tanh(_slice(preact, 3, options['dim_proj']))
        c = f * c_ + i * c
        c = m_[:, None] * c + (1. - m_)[:, None] * c_
        h = o * tensor.tanh(c)
        h = m_[:, None] * h + (1. - m_)[:, None] * h_
        return h, c

    state_below = (tensor.dot(state_below, tparams[_p(prefix, 'W')]) +
                   tparams[_p(prefix, 'b')])
    dim_proj = options['dim_proj']
    rval, updates = theano.scan(_step, sequences=[mask, state_below],
                                outputs_info=[tensor.alloc(numpy_floatX(0.), n_samples, dim_proj),
                                              tensor.alloc(numpy_floatX(0.), n_samples, dim_proj)],
                                name=_p(prefix, '_layers'), n_steps=nsteps)
    return rval[0]


def adadelta(lr, tparams, grads, x, mask, y, cost):
    zipped_grads = [theano.shared(p.get_value() * numpy_floatX(0.), name='%s_grad' % k)
                    for k, p in tparams.items()]
    running_up2 = [theano.shared(p.get_value() * numpy_floatX(0.), name='%s_rup2' % k)
                   for k, p in tparams.items()]
    running_grads2 = [theano.shared(p.get_value() * numpy_floatX(0.), name='%s_rgrad2' % k)
                      for k, p in tparams.items()]
    zgup = [(zg, g) for zg, g in zip(zipped_grads, grads)]
    rg2up = [(rg2, 0.95 * rg2 + 0.05 * (g ** 2)) for rg2, g in zip(running_grads2, grads)]
    f_grad_shared = theano.function([x, mask, y], cost, updates=zgup + rg2up,
                                    name='adadelta_f_grad_shared')
    updir = [-tensor.sqrt(ru2 + 1e-6) / tensor.sqrt(rg2 + 1e-6) * zg
             for zg, ru2, rg2 in zip(zipped_grads, running_up2, running_grads2)]
    ru2up = [(ru2, 0.95 * ru2 + 0.05 * (ud ** 2)) for ru2, ud in zip(running_up2, updir)]
    param_up = [(p, p + ud) for p, ud in zip(tparams.values(), updir)]
    f_update = theano.function([lr], [], updates=ru2up + param_up, on_unused_input='ignore',
                               name='adadelta_f_update')
    return f_grad_shared, f_update


def build_model(tparams, options):
    trng = RandomStreams(SEED)  # noqa: F841 (the tutorial's dropout would draw from it)
    x = tensor.matrix('x', dtype='int64')
    mask = tensor.matrix('mask', dtype=config.floatX)
    y = tensor.vector('y', dtype='int64')
    n_timesteps = x.shape[0]
    n_samples = x.shape[1]
    emb = tparams['Wemb'][x.flatten()].reshape([n_timesteps, n_samples, options['dim_proj']])
    proj = lstm_layer(tparams, emb, options, prefix='lstm', mask=mask)
    proj = (proj * mask[:, :, None]).sum(axis=0)
    proj = proj / mask.sum(axis=0)[:, None]
    pred = tensor.nnet.softmax(tensor.dot(proj, tparams['U']) + tparams['b'])
    f_pred_prob = theano.function([x, mask], pred, name='f_pred_prob')
    f_pred = theano.function([x, mask], pred.argmax(axis=1), name='f_pred')
    off = 1e-8
    cost = -tensor.log(pred[tensor.arange(n_samples), y] + off).mean()
    return x, mask, y, f_pred_prob, f_pred, cost


def prepare_data(seqs, labels):
    lengths = [len(s) for s in seqs]
    n_samples, maxlen = len(seqs), numpy.max(lengths)
    x = numpy.zeros((maxlen, n_samples)).astype('int64')
    x_mask = numpy.zeros((maxlen, n_samples)).astype(theano.config.floatX)
    for idx, s in enumerate(seqs):
        x[:lengths[idx], idx] = s
        x_mask[:lengths[idx], idx] = 1.
    return x, x_mask, numpy.asarray(labels, dtype='int64')


def make_data(rng, n, n_words):
    """Sequences of word ids (lengths 4..14); positive when word 3 outnumbers word 7."""
    seqs = [rng.randint(1, n_words, size=rng.randint(4, 15)) for _ in range(n)]
    return seqs, [int((s == 3).sum() > (s == 7).sum()) for s in seqs]


def numpy_forward(params, x, mask, dim):
    """The model's class probabilities and pooled features in NumPy."""
    sig = lambda a: 1 / (1 + numpy.exp(-a))  # noqa: E731
    below = params['Wemb'][x].dot(params['lstm_W']) + params['lstm_b']
    h = c = numpy.zeros((x.shape[1], dim))
    pooled = numpy.zeros_like(h)
    for t in range(x.shape[0]):
        pre = h.dot(params['lstm_U']) + below[t]
        i, f, o = sig(pre[:, :dim]), sig(pre[:, dim:2 * dim]), sig(pre[:, 2 * dim:3 * dim])
        m = mask[t][:, None]
        c = m * (f * c + i * numpy.tanh(pre[:, 3 * dim:])) + (1 - m) * c
        h = m * (o * numpy.tanh(c)) + (1 - m) * h
        pooled += h * m
    pooled /= mask.sum(axis=0)[:, None]
    a = pooled.dot(params['U']) + params['b']
    p = numpy.exp(a - a.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True), pooled


def check_first_step(tparams, f_pred_prob, f_grad_shared, f_update, x, mask, y, dim):
    """Probabilities and the first adadelta step of ``U`` and ``b`` against NumPy."""
    params = OrderedDict((k, p.get_value()) for k, p in tparams.items())
    p, pooled = numpy_forward(params, x, mask, dim)
    numpy.testing.assert_allclose(f_pred_prob(x, mask), p, rtol=1e-7, atol=1e-12)
    n = len(y)
    cost = f_grad_shared(x, mask, y)
    py = p[numpy.arange(n), y]
    numpy.testing.assert_allclose(cost, -numpy.log(py + 1e-8).mean(), rtol=1e-7)
    g_p = numpy.zeros_like(p)
    g_p[numpy.arange(n), y] = -1 / (py + 1e-8) / n
    g_a = p * (g_p - (g_p * p).sum(axis=1, keepdims=True))
    f_update(0.0001)
    for name, g in (('U', pooled.T.dot(g_a)), ('b', g_a.sum(axis=0))):
        step = -numpy.sqrt(1e-6) / numpy.sqrt(0.05 * g ** 2 + 1e-6) * g
        numpy.testing.assert_allclose(tparams[name].get_value(), params[name] + step,
                                      rtol=1e-6, atol=1e-12)


def train_lstm(dim_proj=16, n_words=12, batch_size=16, max_epochs=12, lrate=0.0001):
    model_options = dict(dim_proj=dim_proj, n_words=n_words, ydim=2)
    rng = numpy.random.RandomState(SEED)
    train, test = make_data(rng, 480, n_words), make_data(rng, 200, n_words)
    params = init_params(model_options)
    tparams = init_tparams(params)
    x, mask, y, f_pred_prob, f_pred, cost = build_model(tparams, model_options)
    grads = tensor.grad(cost, wrt=list(tparams.values()))
    lr = tensor.scalar(name='lr')
    f_grad_shared, f_update = adadelta(lr, tparams, grads, x, mask, y, cost)

    batches = [prepare_data(train[0][i:i + batch_size], train[1][i:i + batch_size])
               for i in range(0, len(train[0]), batch_size)]
    check_first_step(tparams, f_pred_prob, f_grad_shared, f_update, *batches[0], dim_proj)
    epoch_costs = []
    for eidx in range(max_epochs):
        costs = []
        for bx, bmask, by in batches:
            costs.append(f_grad_shared(bx, bmask, by))
            f_update(lrate)
        epoch_costs.append(numpy.mean(costs))
    tx, tmask, ty = prepare_data(*test)
    test_acc = (f_pred(tx, tmask) == ty).mean()
    print('cost by epoch:', ' '.join('%.3f' % c for c in epoch_costs))
    print('test accuracy: %.3f (majority class %.3f)' % (test_acc, max(ty.mean(), 1 - ty.mean())))
    assert epoch_costs[-1] < 0.8 * epoch_costs[0], 'training did not lower the cost'
    assert test_acc > max(ty.mean(), 1 - ty.mean()) + 0.1, 'no better than the majority class'


if __name__ == '__main__':
    train_lstm()
