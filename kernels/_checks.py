"""Argument checks shared by every backend: one validating wrapper per kernel signature.

The backends assume good input (contiguous arrays of one float dtype and matching shapes) so
their inner code stays short.  ``kernels.get_kernel`` wraps each implementation with the
checker for its kernel name, so a bad call fails here with an error that names the kernel,
the argument, and the expected against the given shape or dtype, instead of deep inside
NumPy or Numba.  Non-contiguous inputs are copied; inputs are never modified, except ``gx``
(``gru_seq_fwd(overwrite_gx=True)``) and ``saved`` (``gru_seq_bwd(overwrite_saved=True)``).
"""

import functools

import numpy as np

__all__ = ["CHECKERS"]

_FLOATS = (np.float32, np.float64)


class _Args:
    """Collects the arrays of one call and checks them against each other."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.dtype = None
        self.first = None

    def array(self, name, x, ndim, dims):
        """Check one array; ``dims`` names its axes, e.g. ("B", "3H")."""
        if not isinstance(x, np.ndarray):
            raise TypeError(
                f"{self.kernel}: {name} must be a numpy.ndarray, got {type(x).__name__}"
            )
        dtype = x.dtype
        if dtype is not self.dtype:  # fast path: the very dtype object of the first array
            if dtype.type not in _FLOATS:
                raise TypeError(f"{self.kernel}: {name} must be float32 or float64, got {dtype}")
            if self.dtype is None:
                self.dtype, self.first = dtype, name
            elif dtype != self.dtype:
                raise TypeError(
                    f"{self.kernel}: mixed dtypes: {self.first} is {self.dtype} but {name} is "
                    f"{dtype}; cast all arrays to one dtype"
                )
        if x.ndim != ndim:
            raise ValueError(
                f"{self.kernel}: {name} must be {ndim}-D with shape ({', '.join(dims)}), "
                f"got shape {x.shape}"
            )
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)

    def shape(self, name, x, expected, dims):
        """Check that ``x`` has the shape ``expected`` (whose axes are named ``dims``)."""
        if x.shape != tuple(expected):
            names = ", ".join(dims)
            raise ValueError(
                f"{self.kernel}: {name} must have shape ({names}) = {tuple(expected)}, "
                f"got {x.shape}"
            )

    def positive(self, **sizes):
        for axis, size in sizes.items():
            if size < 1:
                raise ValueError(f"{self.kernel}: {axis} must be at least 1, got {axis}={size}")

    def saved(self, saved, shape, dims):
        """Check the ``(rzn, ghn)`` pair saved by a forward kernel; ``shape`` is ghn's."""
        if not isinstance(saved, (tuple, list)) or len(saved) != 2:
            raise TypeError(
                f"{self.kernel}: saved must be the pair (rzn, ghn) returned by the forward "
                f"kernel, got {type(saved).__name__} of length "
                f"{len(saved) if hasattr(saved, '__len__') else '?'}"
            )
        rzn_shape = tuple(shape[:-1]) + (3 * shape[-1],)
        rzn_dims = tuple(dims[:-1]) + ("3H",)
        rzn = self.array("saved rzn", saved[0], len(dims), rzn_dims)
        self.shape("saved rzn", rzn, rzn_shape, rzn_dims)
        ghn = self.array("saved ghn", saved[1], len(dims), dims)
        self.shape("saved ghn", ghn, shape, dims)
        return rzn, ghn


def _weights(a, W_h, H):
    W_h = a.array("W_h", W_h, 2, ("H", "3H"))
    a.shape("W_h", W_h, (H, 3 * H), ("H", "3H"))
    return W_h


def _bias(a, b_h, H):
    b_h = a.array("b_h", b_h, 1, ("3H",))
    a.shape("b_h", b_h, (3 * H,), ("3H",))
    return b_h


def _plain(first, *rest):
    """True when every argument is a C-contiguous ndarray of one float dtype."""
    if type(first) is not np.ndarray or first.dtype.type not in _FLOATS \
            or not first.flags.c_contiguous:
        return False
    dtype = first.dtype
    return all(type(x) is np.ndarray and x.dtype == dtype and x.flags.c_contiguous
               for x in rest)


def check_step_fwd(gx, h, W_h, b_h):
    # The generation path calls this once per layer and character: a well-formed call passes
    # one comparison of shapes; anything else goes through the checks that name the problem.
    if _plain(h, gx, W_h, b_h) and h.ndim == 2 and h.size:
        B, H = h.shape
        if gx.shape == (B, 3 * H) and W_h.shape == (H, 3 * H) and b_h.shape == (3 * H,):
            return gx, h, W_h, b_h
    a = _Args("gru_step_fwd")
    h = a.array("h", h, 2, ("B", "H"))
    B, H = h.shape
    a.positive(B=B, H=H)
    gx = a.array("gx", gx, 2, ("B", "3H"))
    a.shape("gx", gx, (B, 3 * H), ("B", "3H"))
    return gx, h, _weights(a, W_h, H), _bias(a, b_h, H)


def check_step_bwd(dh_new, h, W_h, saved):
    a = _Args("gru_step_bwd")
    h = a.array("h", h, 2, ("B", "H"))
    B, H = h.shape
    a.positive(B=B, H=H)
    dh_new = a.array("dh_new", dh_new, 2, ("B", "H"))
    a.shape("dh_new", dh_new, (B, H), ("B", "H"))
    W_h = _weights(a, W_h, H)
    return dh_new, h, W_h, a.saved(saved, (B, H), ("B", "H"))


def check_seq_fwd(gx, h0, W_h, b_h):
    a = _Args("gru_seq_fwd")
    h0 = a.array("h0", h0, 2, ("B", "H"))
    B, H = h0.shape
    gx = a.array("gx", gx, 3, ("T", "B", "3H"))
    a.positive(T=gx.shape[0], B=B, H=H)
    a.shape("gx", gx, (gx.shape[0], B, 3 * H), ("T", "B", "3H"))
    return gx, h0, _weights(a, W_h, H), _bias(a, b_h, H)


def check_seq_bwd(dhs, h0, hs, W_h, saved):
    a = _Args("gru_seq_bwd")
    hs = a.array("hs", hs, 3, ("T", "B", "H"))
    T, B, H = hs.shape
    a.positive(T=T, B=B, H=H)
    h0 = a.array("h0", h0, 2, ("B", "H"))
    a.shape("h0", h0, (B, H), ("B", "H"))
    dhs = a.array("dhs", dhs, 3, ("T", "B", "H"))
    a.shape("dhs", dhs, (T, B, H), ("T", "B", "H"))
    W_h = _weights(a, W_h, H)
    return dhs, h0, hs, W_h, a.saved(saved, (T, B, H), ("T", "B", "H"))


CHECKERS = {
    "gru_step_fwd": check_step_fwd,
    "gru_step_bwd": check_step_bwd,
    "gru_seq_fwd": check_seq_fwd,
    "gru_seq_bwd": check_seq_bwd,
}


def checked(name, impl):
    """Wrap ``impl`` so its arguments go through the checker of kernel ``name`` first."""
    check = CHECKERS[name]

    @functools.wraps(impl)
    def run(*args, **kwargs):
        return impl(*check(*args), **kwargs)

    return run
