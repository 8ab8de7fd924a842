"""Data-parallel training over MPI: an all-reduce in the graph, and the few collectives around it.

A hand-written minigraph model becomes data-parallel with one line between ``grad`` and the
update rule::

    grads = distributed.all_reduce(theano.grad(cost, params), op="mean")
    updates = minigraph.updates.adam(grads, params)

Launched as ``mpiexec -n 4 python -m mpi4py train.py``, each rank (process) feeds its own
slice of the batch; the `AllReduce` node sums (or averages) every gradient over the ranks in
ONE flat buffer, so a step makes one MPI call however many parameters the model has. Every
rank then applies the same update to the same parameters, which `broadcast_parameters` made
equal at the start and `check_consistent` verifies now and then.

The transport is MPI through ``mpi4py`` (``pip install minigraph[mpi]``), imported only when
a launcher says there are several ranks (``PMI_SIZE`` or ``OMPI_COMM_WORLD_SIZE`` above 1) or
when the user imported ``mpi4py.MPI`` already. A plain ``python train.py`` never imports it:
there is one rank, `all_reduce` is the identity and the other collectives do nothing. The
design, and why MPI rather than a transport of our own, is in ``docs/distributed.md``.
"""

import contextlib
import os
import sys
import time
import zlib

import numpy as np

from minigraph.graph.basic import Apply, GraphError, UserLineError, Variable
from minigraph.graph.op import Op

# launchers' variables that give the world size: MPICH/Hydra and Intel MPI, Open MPI
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
_OPS = ("sum", "mean")
_comm = None  # the communicator once resolved; False: resolved to "no MPI, one rank"
_stats = {"calls": 0, "bytes": 0, "seconds": 0.0}


class DistributedError(UserLineError, RuntimeError):
    """Ranks that disagree, or MPI needed but missing; the message says which and why."""


# ------------------------------------------------------------------------ the world


def launched_size():
    """The number of ranks the launcher started, read from its environment (1 if none).

    Reads ``PMI_SIZE`` (MPICH, Intel MPI) or ``OMPI_COMM_WORLD_SIZE`` (Open MPI) without
    importing anything, so a program can decide on threads before NumPy loads its BLAS.

    Examples
    --------
    >>> launched_size() >= 1
    True
    """
    for var in _SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


def _world():
    """COMM_WORLD when there are several ranks, else None; imports mpi4py only then."""
    global _comm
    if _comm is None:
        _comm = False
        if launched_size() > 1 or "mpi4py.MPI" in sys.modules:
            try:
                from mpi4py import MPI
            except ImportError:
                raise DistributedError(
                    f"this program was launched as {launched_size()} MPI ranks but mpi4py is "
                    "not installed; install the MPI extra: pip install 'minigraph[mpi]'"
                ) from None
            if MPI.COMM_WORLD.Get_size() > 1:
                _comm = MPI.COMM_WORLD
                _one_thread_per_rank()
    return _comm or None


def _one_thread_per_rank():
    """Ranks sharing a machine each get one Numba thread, unless the user chose a number
    (``NUMBA_NUM_THREADS`` or ``OMP_NUM_THREADS``; the char-RNN's ``--threads`` sets the
    latter): W ranks of N threads on N cores would fight for them. BLAS threads are fixed
    when NumPy loads; set ``OPENBLAS_NUM_THREADS=1`` in the launch (the char-RNN's command
    line does this itself)."""
    if "NUMBA_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        import numba

        numba.set_num_threads(1)


def size():
    """The number of ranks (1 without MPI).

    Examples
    --------
    >>> size()
    1
    """
    comm = _world()
    return comm.Get_size() if comm else 1


def rank():
    """This process's rank, 0 to ``size() - 1`` (0 without MPI).

    Examples
    --------
    >>> rank()
    0
    """
    comm = _world()
    return comm.Get_rank() if comm else 0


def is_distributed():
    """Whether there is more than one rank (so collectives communicate).

    Examples
    --------
    >>> is_distributed()
    False
    """
    return _world() is not None


def stats(reset=False):
    """What `all_reduce` and `all_reduce_values` moved: ``calls``, ``bytes``, ``seconds``.

    ``seconds`` is the wall time inside MPI calls, waiting for slower ranks included.
    """
    out = dict(_stats)
    if reset:
        _stats.update(calls=0, bytes=0, seconds=0.0)
    return out


# ------------------------------------------------------------ NumPy-level collectives


def all_reduce_values(arrays, op="sum"):
    """Sum or average NumPy arrays over the ranks, all of them in one MPI call per dtype.

    Parameters
    ----------
    arrays : list of array_like
    op : {'sum', 'mean'}

    Returns
    -------
    list of np.ndarray
        New arrays, each of its input's shape and dtype (the inputs are not changed).

    Examples
    --------
    >>> [a.tolist() for a in all_reduce_values([np.ones(2), np.float32(3)], op="mean")]
    [[1.0, 1.0], 3.0]
    """
    _check_op(op)
    arrays = [np.asarray(a) for a in arrays]
    comm = _world()
    if comm is None:
        return [a.copy() for a in arrays]
    out = [None] * len(arrays)
    for dtype in sorted({a.dtype for a in arrays}, key=str):  # same order on every rank
        which = [i for i, a in enumerate(arrays) if a.dtype == dtype]
        buf = np.concatenate([arrays[i].ravel() for i in which])
        _allreduce_inplace(comm, buf)
        if op == "mean":
            buf /= comm.Get_size()  # mean of integers: rejected by AllReduce.make_node
        start = 0
        for i in which:
            n = arrays[i].size
            out[i] = buf[start:start + n].reshape(arrays[i].shape)
            start += n
    return out


def _allreduce_inplace(comm, buf):
    from mpi4py import MPI

    t0 = time.perf_counter()
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    _stats["seconds"] += time.perf_counter() - t0
    _stats["calls"] += 1
    _stats["bytes"] += buf.nbytes


def gather_object(obj, root=0):
    """Every rank's `obj` on rank `root` (a list in rank order), None on the others.

    Pickled: for hidden states, generator states and metadata, not for gradients.

    Examples
    --------
    >>> gather_object({"rank": rank()})
    [{'rank': 0}]
    """
    comm = _world()
    return [obj] if comm is None else comm.gather(obj, root=root)


def broadcast_object(obj, root=0):
    """`obj` as rank `root` has it, on every rank (pickled: for metadata, not big arrays).

    Examples
    --------
    >>> broadcast_object({"step": 3})
    {'step': 3}
    """
    comm = _world()
    return obj if comm is None else comm.bcast(obj, root=root)


def all_gather_object(obj):
    """A list of every rank's `obj`, in rank order, on every rank.

    Examples
    --------
    >>> all_gather_object("a")
    ['a']
    """
    comm = _world()
    return [obj] if comm is None else comm.allgather(obj)


def barrier():
    """Wait until every rank gets here (nothing without MPI)."""
    comm = _world()
    if comm is not None:
        comm.Barrier()


@contextlib.contextmanager
def rank_zero_first():
    """Run the block on rank 0 first, then on the others: rank 0 fills a cache they reuse.

    Examples
    --------
    >>> with rank_zero_first():
    ...     pass
    """
    if rank() != 0:
        barrier()
    yield
    if rank() == 0:
        barrier()


def abort(status=1):
    """End every rank of the job now with `status` (a plain ``sys.exit`` without MPI).

    A rank that stops on an error while the others wait in a collective would leave them
    waiting; MPI_Abort tells the launcher to end them all.
    """
    comm = _world()
    if comm is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        comm.Abort(status)
    sys.exit(status)


# --------------------------------------------------------------------- parameters


def broadcast_parameters(params, root=0):
    """Give every rank rank `root`'s values of the shared variables `params`.

    One flat buffer per dtype, one MPI call each. Call it once after building the model (and
    after loading a checkpoint on `root` only), before the first step.

    Examples
    --------
    >>> import minigraph as theano
    >>> w = theano.shared(np.ones(3), name="w")
    >>> broadcast_parameters([w])
    >>> w.get_value().tolist()
    [1.0, 1.0, 1.0]
    """
    comm = _world()
    if comm is None:
        return
    values = [np.asarray(p.get_value(borrow=True)) for p in params]
    for dtype in sorted({v.dtype for v in values}, key=str):
        which = [i for i, v in enumerate(values) if v.dtype == dtype]
        buf = np.concatenate([values[i].ravel() for i in which])
        comm.Bcast(buf, root=root)
        start = 0
        for i in which:
            n = values[i].size
            params[i].set_value(buf[start:start + n].reshape(values[i].shape).copy())
            start += n


def check_consistent(params, names=None, rtol=0.0):
    """Raise DistributedError unless every rank holds the same values of `params`.

    Each rank sends one CRC-32 and one float64 sum per parameter (a few bytes each, one MPI
    call); with ``rtol=0`` the CRCs must match, i.e. the values are bit-identical, which ranks
    applying the same all-reduced gradients stay. With ``rtol > 0`` only the sums are
    compared, within that relative tolerance (for an MPI whose reductions differ by rank).

    Parameters
    ----------
    params : list of SharedVariable or np.ndarray
    names : list of str, optional
        Names for the message (default: each variable's name, or its index).
    rtol : float

    Examples
    --------
    >>> check_consistent([np.arange(4.0)])
    """
    values = [np.ascontiguousarray(p.get_value(borrow=True) if hasattr(p, "get_value") else p)
              for p in params]
    names = names or [getattr(p, "name", None) or f"params[{i}]" for i, p in enumerate(params)]
    mine = [(zlib.crc32(v.reshape(-1).view(np.uint8)), float(v.sum(dtype=np.float64)))
            for v in values]
    every = all_gather_object(mine)
    for r, theirs in enumerate(every):
        for i, ((crc0, sum0), (crc, s)) in enumerate(zip(every[0], theirs)):
            same = crc == crc0 if rtol == 0 else abs(s - sum0) <= rtol * max(abs(sum0), 1e-300)
            if not same:
                raise DistributedError(
                    f"ranks hold different parameters: {names[i]} on rank {r} (sum {s!r}) "
                    f"differs from rank 0 (sum {sum0!r}); the ranks no longer train the same "
                    f"model (a rank updated without the all-reduce, or loaded other values)")


# ------------------------------------------------------------------------ the op


def _check_op(op):
    if op not in _OPS:
        raise GraphError(f"all_reduce op must be 'sum' or 'mean', got {op!r}")


class AllReduce(Op):
    """Sum or mean of each input over all ranks; the inputs travel in one flat buffer.

    Output ``i`` has input ``i``'s type. With one rank it is the identity (its outputs are
    then the inputs themselves, hence the declared views). The gradient of a sum over ranks
    is the sum over ranks of the output gradients (each rank's loss depends on every rank's
    input), and likewise for the mean: the op is its own gradient. Never constant-folded:
    it communicates.
    """

    __props__ = ("op", "n")
    no_fold = True

    def __init__(self, op, n):
        _check_op(op)
        self.op, self.n = op, int(n)
        self.view_map = {i: [i] for i in range(self.n)}

    def __str__(self):
        return f"AllReduce{{{self.op}}}"

    def make_node(self, *tensors):
        import minigraph.tensor as T

        tensors = [T.as_tensor_variable(t) for t in tensors]
        if len(tensors) != self.n:
            raise GraphError(f"AllReduce built for {self.n} tensors got {len(tensors)}")
        for i, t in enumerate(tensors):
            if np.dtype(t.dtype).kind not in "iuf":
                raise GraphError(f"all_reduce needs numeric tensors, but tensor {i} "
                                 f"({t.describe()}) is {t.dtype}; cast it")
            if self.op == "mean" and np.dtype(t.dtype).kind != "f":
                raise GraphError(f"all_reduce(op='mean') needs float tensors, but tensor {i} "
                                 f"({t.describe()}) is {t.dtype}; use op='sum' or cast it")
        return Apply(self, tensors, [t.type() for t in tensors])

    def make_py_callable(self, node):
        op = self.op

        def run(*values):
            if _world() is None:
                return values if len(values) > 1 else values[0]
            out = all_reduce_values(values, op)
            return tuple(out) if len(out) > 1 else out[0]

        return run

    def grad(self, inputs, outputs, output_grads):
        return all_reduce(list(output_grads), self.op)

    def infer_shape(self, node, input_shapes):
        return list(input_shapes)


def all_reduce(tensors, op="sum"):
    """Symbolic sum or mean over the ranks of each tensor in `tensors`, in one MPI call.

    Put it between ``grad`` and the update rule to make a model data-parallel: each rank
    computes gradients on its own slice of the batch, and every rank gets their mean. All
    tensors of one dtype share one flat buffer: one call per step, not one per parameter.

    Parameters
    ----------
    tensors : list of Variable (a single Variable is accepted and returned alone)
    op : {'sum', 'mean'}
        ``'mean'`` divides the sum by `size`; it needs float tensors.

    Returns
    -------
    list of Variable
        One per input, of its type.

    Examples
    --------
    >>> import minigraph as theano, minigraph.tensor as T
    >>> w = theano.shared(np.array([1.0, 2.0]), name="w")
    >>> cost = (w ** 2).sum()
    >>> grads = all_reduce(theano.grad(cost, [w]), op="mean")
    >>> theano.function([], grads[0])().tolist()
    [2.0, 4.0]
    """
    single = isinstance(tensors, Variable)
    tensors = [tensors] if single else list(tensors)
    _check_op(op)
    if not tensors:
        return []
    out = AllReduce(op, len(tensors))(*tensors)
    out = out if isinstance(out, list) else [out]
    return out[0] if single else out
