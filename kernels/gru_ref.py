"""NumPy reference GRU: the specification every other backend is tested against.

Plain, unfused NumPy written to be read, not to be fast.  cuDNN / PyTorch formulation, gate
order r, z, n; ``W_h`` is (H, 3H) and ``b_h`` is (3H,)::

    gh = h @ W_h + b_h
    r  = sigmoid(gx_r + gh_r);  z = sigmoid(gx_z + gh_z)
    n  = tanh(gx_n + r * gh_n)          # gh_n includes b_hn
    h' = (1 - z) * n + z * h

The results keep the input dtype (float32 stays float32: NumPy 2 treats Python scalars as
weak).  Inputs are validated by ``kernels.get_kernel``; these functions assume good arrays.
"""

import numpy as np

__all__ = ["gru_step_fwd", "gru_step_bwd", "gru_seq_fwd", "gru_seq_bwd"]


def _sigmoid(x):
    # The tanh form never overflows (1 / (1 + exp(-x)) warns for x < -88 in float32).
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gru_step_fwd(gx, h, W_h, b_h):
    """One GRU step forward.

    Parameters
    ----------
    gx : ndarray, shape (B, 3H)
        Input projection ``x @ W_x + b_x`` for this step, gates [r | z | n].
    h : ndarray, shape (B, H)
        Previous hidden state.
    W_h : ndarray, shape (H, 3H)
        Recurrent weights, gates [r | z | n].
    b_h : ndarray, shape (3H,)
        Recurrent bias.

    Returns
    -------
    h_new : ndarray, shape (B, H)
    saved : tuple of ndarray
        ``(rzn, ghn)``: the gates packed like ``gx``, ``rzn = [r | z | n]`` (B, 3H), and
        ``ghn = h @ W_hn + b_hn`` (B, H).

    Examples
    --------
    >>> import numpy as np
    >>> B, H = 2, 3
    >>> h_new, saved = gru_step_fwd(np.zeros((B, 3 * H)), np.zeros((B, H)),
    ...                             np.zeros((H, 3 * H)), np.zeros(3 * H))
    >>> h_new.shape, [s.shape for s in saved]
    ((2, 3), [(2, 9), (2, 3)])
    """
    H = h.shape[1]
    gh = h @ W_h + b_h
    r = _sigmoid(gx[:, :H] + gh[:, :H])
    z = _sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
    ghn = np.ascontiguousarray(gh[:, 2 * H :])
    n = np.tanh(gx[:, 2 * H :] + r * ghn)
    h_new = (1.0 - z) * n + z * h
    return h_new, (np.concatenate([r, z, n], axis=1), ghn)


def _gate_grads(dh, h, saved):
    """Gradients w.r.t. gx and gh, and the part of dh_prev that bypasses the GEMM."""
    rzn, ghn = saved
    H = ghn.shape[-1]
    r, z, n = rzn[:, :H], rzn[:, H : 2 * H], rzn[:, 2 * H :]
    a_n = dh * (1.0 - z) * (1.0 - n * n)
    a_r = a_n * ghn * r * (1.0 - r)
    a_z = dh * (h - n) * z * (1.0 - z)
    dgx = np.concatenate([a_r, a_z, a_n], axis=1)
    dgh = np.concatenate([a_r, a_z, a_n * r], axis=1)
    return dgx, dgh, dh * z


def gru_step_bwd(dh_new, h, W_h, saved):
    """One GRU step backward.

    Parameters
    ----------
    dh_new : ndarray, shape (B, H)
        Gradient of the loss w.r.t. the step's output ``h_new``.
    h : ndarray, shape (B, H)
        The step's input hidden state.
    W_h : ndarray, shape (H, 3H)
    saved : tuple of ndarray
        ``(rzn, ghn)`` from ``gru_step_fwd``.

    Returns
    -------
    dgx : ndarray, shape (B, 3H)
    dh : ndarray, shape (B, H)
    dW_h : ndarray, shape (H, 3H)
    db_h : ndarray, shape (3H,)
    """
    dgx, dgh, dh_direct = _gate_grads(dh_new, h, saved)
    dh = dh_direct + dgh @ W_h.T
    return dgx, dh, h.T @ dgh, dgh.sum(axis=0)


def gru_seq_fwd(gx, h0, W_h, b_h, *, overwrite_gx=False):
    """GRU over a whole sequence.

    Parameters
    ----------
    gx : ndarray, shape (T, B, 3H)
    h0 : ndarray, shape (B, H)
    W_h : ndarray, shape (H, 3H)
    b_h : ndarray, shape (3H,)
    overwrite_gx : bool
        Allow the kernel to write ``RZN`` over ``gx`` (same shape; the fast backends do),
        which is garbage afterwards.  The reference never does.

    Returns
    -------
    hs : ndarray, shape (T, B, H)
        ``h_1 .. h_T``.
    saved : tuple of ndarray
        ``(RZN, GHN)``: (T, B, 3H) and (T, B, H), as ``gru_step_fwd``'s for every step.
    """
    h = h0
    hs, saved = [], []
    for t in range(gx.shape[0]):
        h, s = gru_step_fwd(gx[t], h, W_h, b_h)
        hs.append(h)
        saved.append(s)
    return np.stack(hs), tuple(np.stack(parts) for parts in zip(*saved))


def gru_seq_bwd(dhs, h0, hs, W_h, saved, *, overwrite_saved=False):
    """Backpropagation through a whole sequence.

    Parameters
    ----------
    dhs : ndarray, shape (T, B, H)
        Gradient of the loss w.r.t. every output state (the last one's included).
    h0 : ndarray, shape (B, H)
    hs : ndarray, shape (T, B, H)
        Outputs of ``gru_seq_fwd``.
    W_h : ndarray, shape (H, 3H)
    saved : tuple of ndarray
        ``(RZN, GHN)`` from ``gru_seq_fwd``.
    overwrite_saved : bool
        Allow the kernel to reuse ``saved``'s memory (the fast backends write ``dgx`` over
        ``RZN``: same shape, and each step's gates are dead once read); ``saved`` is then
        garbage.  The reference never does.

    Returns
    -------
    dgx : ndarray, shape (T, B, 3H)
    dh0 : ndarray, shape (B, H)
    dW_h : ndarray, shape (H, 3H)
        ``Hprev.T @ dGH`` over all steps, one GEMM after the loop.
    db_h : ndarray, shape (3H,)
    """
    T, B, H = hs.shape
    h_prev = np.concatenate([h0[None], hs[:-1]])
    dgx = np.empty((T, B, 3 * H), dtype=hs.dtype)
    dgh = np.empty_like(dgx)
    carry = np.zeros_like(h0)  # dL/dh_t arriving from step t + 1
    for t in range(T - 1, -1, -1):
        step_saved = tuple(s[t] for s in saved)
        dgx[t], dgh[t], dh_direct = _gate_grads(dhs[t] + carry, h_prev[t], step_saved)
        carry = dh_direct + dgh[t] @ W_h.T
    dgh_rows = dgh.reshape(T * B, 3 * H)
    dW_h = h_prev.reshape(T * B, H).T @ dgh_rows
    return dgx, carry, dW_h, dgh_rows.sum(axis=0)
