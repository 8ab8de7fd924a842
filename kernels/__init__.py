"""Fused GRU kernels: arrays in, arrays out, with one place that picks the backend.

Three backends implement the same four kernels with the same signatures:

* ``"reference"`` (``gru_ref``): plain NumPy, the specification;
* ``"cpu"`` (``gru_cpu``): an OpenBLAS GEMM plus one fused Numba epilogue per step;
* ``"cuda"`` (``gru_cuda``): Numba-CUDA kernels (GEMM tile and gate math in one launch).

``select_backend`` turns a backend name or a device into a backend, ``get_kernel`` maps
(kernel name, backend) through one table to a checked implementation, imported lazily, and the
four convenience functions below dispatch through both.  Importing this package imports
neither NumPy nor Numba (``kernels._target`` must be able to configure Numba first).

The rest of the package's public face: ``kernels.workspace`` (the pool of big arrays the
kernels and minigraph's fused kernels share), :func:`set_threads` / :func:`get_threads` (the
threads of the Numba loops) and :func:`quiet_idle_threads`.  ``docs/kernels.md`` describes
the kernels' designs.

The GRU is the cuDNN / PyTorch variant, gate order r, z, n (see ``gru_ref``).
"""

import functools
import importlib

from kernels import _target
from kernels._target import quiet_idle_threads

quiet_idle_threads()  # before Numba starts any threads (see its docstring)

__all__ = [
    "BACKENDS",
    "DEVICES",
    "KERNELS",
    "select_backend",
    "get_kernel",
    "cuda_available",
    "gru_step_fwd",
    "gru_step_bwd",
    "gru_seq_fwd",
    "gru_seq_bwd",
    "set_threads",
    "get_threads",
    "quiet_idle_threads",
]

BACKENDS = ("reference", "cpu", "cuda")
DEVICES = ("cpu", "cuda", "auto")
KERNELS = ("gru_step_fwd", "gru_step_bwd", "gru_seq_fwd", "gru_seq_bwd")

# (kernel name, backend) -> "module:function"; the one dispatch table.
_TABLE = {
    ("gru_step_fwd", "reference"): "kernels.gru_ref:gru_step_fwd",
    ("gru_step_bwd", "reference"): "kernels.gru_ref:gru_step_bwd",
    ("gru_seq_fwd", "reference"): "kernels.gru_ref:gru_seq_fwd",
    ("gru_seq_bwd", "reference"): "kernels.gru_ref:gru_seq_bwd",
    ("gru_step_fwd", "cpu"): "kernels.gru_cpu:gru_step_fwd",
    ("gru_step_bwd", "cpu"): "kernels.gru_cpu:gru_step_bwd",
    ("gru_seq_fwd", "cpu"): "kernels.gru_cpu:gru_seq_fwd",
    ("gru_seq_bwd", "cpu"): "kernels.gru_cpu:gru_seq_bwd",
    ("gru_step_fwd", "cuda"): "kernels.gru_cuda:gru_step_fwd",
    ("gru_step_bwd", "cuda"): "kernels.gru_cuda:gru_step_bwd",
    ("gru_seq_fwd", "cuda"): "kernels.gru_cuda:gru_seq_fwd",
    ("gru_seq_bwd", "cuda"): "kernels.gru_cuda:gru_seq_bwd",
}


def _real_gpu():
    """True only on a machine with a usable GPU and the real (not simulated) CUDA target."""
    if _target.mode() != "real" or not _target.gpu_probably_present():
        return False
    import numba  # not at the top: importing kernels must not import Numba (see above)
    from numba import cuda

    return bool(cuda.is_available() and not numba.config.ENABLE_CUDASIM)


def cuda_available():
    """Whether the ``"cuda"`` backend can run here: on a real GPU or in the simulator.

    Returns
    -------
    str or None
        ``"real"``, ``"sim"``, or None when CUDA is off or no GPU is usable.

    Examples
    --------
    >>> cuda_available() in ("real", "sim", None)
    True
    """
    mode = _target.mode()
    if mode == "sim":
        import numba  # lazily, as everywhere in this file

        return "sim" if numba.config.ENABLE_CUDASIM else None
    return "real" if _real_gpu() else None


def set_threads(n):
    """Run the kernels' parallel Numba loops on ``n`` threads (at most Numba's pool size).

    Import ``kernels`` (which makes idle threads sleep, see :func:`quiet_idle_threads`)
    before anything starts Numba's threads; this call starts them. OpenBLAS reads its own
    thread count (``OPENBLAS_NUM_THREADS``) when NumPy is first imported.

    Parameters
    ----------
    n : int

    Returns
    -------
    int
        The number of threads now used.

    Examples
    --------
    >>> set_threads(1)
    1
    """
    import numba  # lazily: importing kernels must not import Numba

    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


def get_threads():
    """The number of threads the kernels' parallel Numba loops use.

    Examples
    --------
    >>> get_threads() >= 1
    True
    """
    import numba  # lazily: importing kernels must not import Numba

    return numba.get_num_threads()


def select_backend(backend=None, device="cpu"):
    """Choose the backend that runs the kernels.

    Parameters
    ----------
    backend : {"reference", "cpu", "cuda"}, optional
        Wins when given.  ``"cuda"`` also runs in Numba's CUDA simulator, but only when named
        here explicitly.
    device : {"cpu", "cuda", "auto"}
        Used when ``backend`` is None: ``"cpu"`` -> ``"cpu"``; ``"cuda"`` needs a real GPU;
        ``"auto"`` picks ``"cuda"`` on a real GPU, else ``"cpu"``.  The simulator is never
        picked from a device.

    Returns
    -------
    str
        ``"reference"``, ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        For an unknown backend or device name.
    RuntimeError
        For ``device="cuda"`` without a real GPU, or ``backend="cuda"`` with no GPU and the
        simulator off.

    Examples
    --------
    >>> select_backend()
    'cpu'
    >>> select_backend("reference")
    'reference'
    """
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(
                f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}"
            )
        if backend == "cuda" and cuda_available() is None:
            raise RuntimeError(
                "backend='cuda' needs a real GPU or the CUDA simulator; neither is active "
                "(set MINIGRAPH_CUDA=sim before numba is imported to simulate)"
            )
        return backend
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    if _real_gpu():
        return "cuda"
    if device == "cuda":
        raise RuntimeError(
            "device='cuda' needs a real GPU, but numba.cuda finds none (or the CUDA simulator "
            "is active); use device='cpu'/'auto', or backend='cuda' to run the simulator"
        )
    return "cpu"


@functools.lru_cache(maxsize=None)
def get_kernel(name, backend):
    """Return the checked implementation of kernel ``name`` on ``backend``.

    Parameters
    ----------
    name : {"gru_step_fwd", "gru_step_bwd", "gru_seq_fwd", "gru_seq_bwd"}
    backend : {"reference", "cpu", "cuda"}

    Returns
    -------
    callable
        Same signature as the backend function; arguments are validated first (clear
        ``ValueError``/``TypeError`` naming the argument).

    Examples
    --------
    >>> import numpy as np
    >>> step = get_kernel("gru_step_fwd", "reference")
    >>> h, saved = step(np.zeros((1, 6)), np.zeros((1, 2)), np.zeros((2, 6)), np.zeros(6))
    >>> h.shape
    (1, 2)
    """
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; valid kernels: {', '.join(KERNELS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend == "cuda":
        select_backend("cuda")  # raises if CUDA cannot run here
    module, func = _TABLE[name, backend].split(":")
    from kernels._checks import checked  # imports NumPy: not at the top (see above)

    return checked(name, getattr(importlib.import_module(module), func))


def gru_step_fwd(gx, h, W_h, b_h, *, backend=None, device="cpu"):
    """One GRU step forward: ``(h_new, (rzn, ghn))``; see ``gru_ref.gru_step_fwd``.

    ``rzn`` packs the gates ``[r | z | n]`` (B, 3H) like ``gx``.

    Examples
    --------
    >>> import numpy as np
    >>> h, (rzn, ghn) = gru_step_fwd(np.zeros((2, 9), np.float32),
    ...     np.zeros((2, 3), np.float32), np.zeros((3, 9), np.float32), np.zeros(9, np.float32))
    >>> h.dtype, rzn.shape, float(rzn[0, 3])  # z of unit 0
    (dtype('float32'), (2, 9), 0.5)
    """
    return get_kernel("gru_step_fwd", select_backend(backend, device))(gx, h, W_h, b_h)


def gru_step_bwd(dh_new, h, W_h, saved, *, backend=None, device="cpu"):
    """One GRU step backward: ``(dgx, dh, dW_h, db_h)``; see ``gru_ref.gru_step_bwd``."""
    return get_kernel("gru_step_bwd", select_backend(backend, device))(dh_new, h, W_h, saved)


def gru_seq_fwd(gx, h0, W_h, b_h, *, overwrite_gx=False, backend=None, device="cpu"):
    """GRU over a sequence: ``(hs, (RZN, GHN))``; see ``gru_ref.gru_seq_fwd``.

    ``overwrite_gx=True`` lets the backend write ``RZN`` over ``gx``."""
    return get_kernel("gru_seq_fwd", select_backend(backend, device))(
        gx, h0, W_h, b_h, overwrite_gx=overwrite_gx
    )


def gru_seq_bwd(dhs, h0, hs, W_h, saved, *, overwrite_saved=False, backend=None,
                device="cpu"):
    """Backpropagation through a sequence: ``(dgx, dh0, dW_h, db_h)``; see ``gru_ref``.

    ``overwrite_saved=True`` lets the backend take ``saved``'s memory for its results."""
    return get_kernel("gru_seq_bwd", select_backend(backend, device))(
        dhs, h0, hs, W_h, saved, overwrite_saved=overwrite_saved
    )
