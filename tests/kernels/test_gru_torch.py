"""Our GRU against PyTorch's ``nn.GRUCell`` / ``nn.GRU`` with the same weights (if installed).

PyTorch implements the same cuDNN formulation: ``weight_hh`` is (3H, H) with gates r, z, n,
so ``W_h = weight_hh.T``; ``gx = x @ weight_ih.T + bias_ih``.  Forward states and all
gradients (through ``gx`` to x and weight_ih as well) are compared in float64.
"""

import numpy as np
import pytest

import kernels

torch = pytest.importorskip("torch")

BACKENDS = ["reference", "cpu"]


def _layer_grads(backend, x, h0, W_ih, b_ih, W_h, b_h, G):
    """hs and d(sum(G * hs)) / d(x, h0, W_ih, b_ih, W_h, b_h) through our kernels."""
    T, B, D = x.shape
    gx = (x.reshape(T * B, D) @ W_ih.T + b_ih).reshape(T, B, -1)
    hs, saved = kernels.gru_seq_fwd(gx, h0, W_h, b_h, backend=backend)
    dgx, dh0, dW_h, db_h = kernels.gru_seq_bwd(G, h0, hs, W_h, saved, backend=backend)
    dgx2 = dgx.reshape(T * B, -1)
    dx = (dgx2 @ W_ih).reshape(T, B, D)
    return hs, dict(x=dx, h0=dh0, W_ih=dgx2.T @ x.reshape(T * B, D), b_ih=dgx2.sum(0),
                    W_h=dW_h, b_h=db_h)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_torch_gru_layer(backend, rng):
    T, B, D, H = 4, 3, 5, 7
    gru = torch.nn.GRU(D, H, dtype=torch.float64)
    x = torch.tensor(rng.standard_normal((T, B, D)), requires_grad=True)
    h0 = torch.tensor(rng.uniform(-1, 1, (1, B, H)), requires_grad=True)
    G = rng.standard_normal((T, B, H))
    out, _ = gru(x, h0)
    (out * torch.tensor(G)).sum().backward()

    p = {k: v.detach().numpy() for k, v in gru.named_parameters()}
    hs, grads = _layer_grads(
        backend, x.detach().numpy(), h0.detach().numpy()[0], p["weight_ih_l0"],
        p["bias_ih_l0"], p["weight_hh_l0"].T.copy(), p["bias_hh_l0"], G,
    )  # fmt: skip
    np.testing.assert_allclose(hs, out.detach().numpy(), rtol=1e-12, atol=1e-13)
    want = {
        "x": x.grad.numpy(), "h0": h0.grad.numpy()[0],
        "W_ih": gru.weight_ih_l0.grad.numpy(), "b_ih": gru.bias_ih_l0.grad.numpy(),
        "W_h": gru.weight_hh_l0.grad.numpy().T, "b_h": gru.bias_hh_l0.grad.numpy(),
    }  # fmt: skip
    for name, w in want.items():
        np.testing.assert_allclose(grads[name], w, rtol=1e-11, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_torch_gru_cell(backend, rng):
    B, D, H = 2, 3, 6
    cell = torch.nn.GRUCell(D, H, dtype=torch.float64)
    x = torch.tensor(rng.standard_normal((B, D)))
    h = torch.tensor(rng.uniform(-1, 1, (B, H)), requires_grad=True)
    G = rng.standard_normal((B, H))
    h_new = cell(x, h)
    (h_new * torch.tensor(G)).sum().backward()

    p = {k: v.detach().numpy() for k, v in cell.named_parameters()}
    gx = x.numpy() @ p["weight_ih"].T + p["bias_ih"]
    W_h = p["weight_hh"].T.copy()
    ours, saved = kernels.gru_step_fwd(gx, h.detach().numpy(), W_h, p["bias_hh"], backend=backend)
    np.testing.assert_allclose(ours, h_new.detach().numpy(), rtol=1e-12, atol=1e-13)
    _, dh, dW_h, db_h = kernels.gru_step_bwd(G, h.detach().numpy(), W_h, saved, backend=backend)
    np.testing.assert_allclose(dh, h.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dW_h, cell.weight_hh.grad.numpy().T, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(db_h, cell.bias_hh.grad.numpy(), rtol=1e-11, atol=1e-12)
