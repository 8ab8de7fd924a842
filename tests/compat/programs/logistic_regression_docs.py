"""Theano's documentation example "A Real Example: Logistic Regression", as users write it.

Run unchanged by ``python -m minigraph.compat``: the sigmoid written out as
``1 / (1 + T.exp(-T.dot(x, w) - b))``, the hand-written cross-entropy, and ``theano.function``
with a tuple of ``updates``. Checks: one step equals the same step in NumPy, training lowers
the cost and fits the data, and the gradient where the sigmoid saturates.
"""


import numpy
import theano
import theano.tensor as T

rng = numpy.random
rng.seed(1234)

N = 400                                   # training sample size
feats = 400                               # number of input variables

# a learnable rule (the docs draw random labels; a rule also lets us test generalisation)
w_true = rng.randn(feats)
inputs = rng.randn(N, feats)
D = (inputs, (inputs.dot(w_true) > 0).astype("int64"))
training_steps = 200

# Declare Theano symbolic variables
x = T.dmatrix("x")
y = T.dvector("y")

# initialize the weight vector w randomly; small, so the sigmoid starts unsaturated
w = theano.shared(rng.randn(feats) * 0.01, name="w")
b = theano.shared(0., name="b")

# Construct Theano expression graph
p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))            # Probability that target = 1
prediction = p_1 > 0.5                             # The prediction thresholded
xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # Cross-entropy loss function
cost = xent.mean() + 0.01 * (w ** 2).sum()         # The cost to minimize
gw, gb = T.grad(cost, [w, b])                      # Compute the gradient of the cost

# Compile
train = theano.function(
    inputs=[x, y],
    outputs=[prediction, xent],
    updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
predict = theano.function(inputs=[x], outputs=prediction)


def numpy_step(w0, b0, xv, yv):
    """One training step in NumPy: the predictions, the loss and the new parameters."""
    p = 1 / (1 + numpy.exp(-xv.dot(w0) - b0))
    loss = -yv * numpy.log(p) - (1 - yv) * numpy.log(1 - p)
    gw_ = xv.T.dot(p - yv) / len(yv) + 0.02 * w0
    return p > 0.5, loss, w0 - 0.1 * gw_, b0 - 0.1 * (p - yv).mean()


# One step checked against NumPy
w0, b0 = w.get_value(), float(b.get_value())
pred, err = train(D[0], D[1])
want_pred, want_err, want_w, want_b = numpy_step(w0, b0, D[0], D[1])
assert numpy.array_equal(pred, want_pred)
numpy.testing.assert_allclose(err, want_err, rtol=1e-10)
numpy.testing.assert_allclose(w.get_value(), want_w, rtol=1e-10, atol=1e-14)
numpy.testing.assert_allclose(b.get_value(), want_b, rtol=1e-10, atol=1e-14)

# Train
first = err.mean()
for i in range(training_steps):
    pred, err = train(D[0], D[1])
print("cost: %.4f -> %.4f" % (first, err.mean()))
assert err.mean() < 0.5 * first, "training did not lower the loss"
accuracy = (predict(D[0]) == D[1]).mean()
print("training accuracy: %.3f" % accuracy)
assert accuracy > 0.95

# Where the sigmoid saturates: z = [-40, 3, 40], y = [1, 1, 0] (issue 15, item 2)
z = T.dvector("z")
p = 1 / (1 + T.exp(-z))
loss = (-y * T.log(p) - (1 - y) * T.log(1 - p)).sum()
g = theano.function([z, y], T.grad(loss, z))(numpy.array([-40., 3., 40.]),
                                              numpy.array([1., 1., 0.]))
want = 1 / (1 + numpy.exp(-numpy.array([-40., 3., 40.]))) - numpy.array([1., 1., 0.])
numpy.testing.assert_allclose(g, want, rtol=1e-6)  # finite: the stabilize rules
print("saturated gradient:", g)
