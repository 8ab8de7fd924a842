"""kernels/xent_cpu.py: softmax cross-entropy and its gradient against their definitions
(NumPy, float64 reference) on fresh random inputs: odd widths, saturated rows, both dtypes."""

import time

import numpy as np
import pytest

from kernels import xent_cpu


def _reference(x, y, gz):
    x64 = x.astype(np.float64)
    z = x64 - x64.max(axis=1, keepdims=True)
    log_sm = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    grad = np.exp(log_sm)
    grad[rows, y] -= 1
    return -log_sm[rows, y], grad * gz.astype(np.float64)[:, None]


@pytest.mark.parametrize("dtype, tol", [("float32", 2e-6), ("float64", 1e-14)])
@pytest.mark.parametrize("width", [1, 3, 5, 8, 65, 98])
def test_loss_and_gradient_follow_the_definition(rng, dtype, tol, width):
    rows = 37
    x = (rng.standard_normal((rows, width)) * rng.choice([0.1, 5.0, 60.0])).astype(dtype)
    x[3] = 7.0  # a row of equal logits
    x[5, 0] = 1e4 if dtype == "float64" else 80.0  # one class saturates its row
    y = rng.integers(0, width, rows).astype(rng.choice([np.int32, np.int64]))
    gz = rng.standard_normal(rows).astype(dtype)
    loss, grad = xent_cpu.xent_softmax(x, y), xent_cpu.xent_softmax_grad(gz, x, y)
    want_loss, want_grad = _reference(x, y, gz)
    assert loss.dtype == grad.dtype == np.dtype(dtype) and grad.shape == x.shape
    np.testing.assert_allclose(loss, want_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, want_grad, rtol=tol, atol=tol * np.abs(gz).max())


def test_non_contiguous_logits_and_unsupported_inputs(rng):
    x = rng.standard_normal((20, 12))[:, ::2]  # a strided view: copied first
    y = rng.integers(0, 6, 20)
    np.testing.assert_allclose(xent_cpu.xent_softmax(x, y), _reference(x, y, np.ones(20))[0],
                               rtol=1e-14)
    assert not xent_cpu.supported(np.zeros((3, 0))) and not xent_cpu.supported(np.zeros(3))
    assert not xent_cpu.supported(np.zeros((3, 2), np.int64))


def test_ready_compiles_in_the_background():
    """``ready`` says True once the background compile (or disk-cache load) it starts has
    finished (before that, False: the op keeps NumPy's expression)."""
    deadline = time.monotonic() + 120
    while not xent_cpu.ready(np.dtype(np.float64)):
        assert time.monotonic() < deadline, "the background compile did not finish"
        time.sleep(0.05)
    assert xent_cpu.ready(np.dtype(np.float64)) is True


def test_bad_targets_and_weights_are_clear_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(IndexError, match="target 3 out of range for 3 classes"):
        xent_cpu.xent_softmax(x, np.array([0, 1, 2, 3]))
    with pytest.raises(IndexError, match="target -1 out of range"):
        xent_cpu.xent_softmax_grad(np.ones(4, np.float32), x, np.array([0, -1, 2, 0]))
    with pytest.raises(ValueError, match="one target per row, got targets of shape \\(3,\\)"):
        xent_cpu.xent_softmax(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="targets must be integers"):
        xent_cpu.xent_softmax(x, np.zeros(4))
    with pytest.raises(ValueError, match="one weight per row"):
        xent_cpu.xent_softmax_grad(np.ones(3, np.float32), x, np.array([0, 1, 2, 0]))
