"""What a template writes with: values as views of arrays, and the lines of one function.

A loop is generated as Python source for Numba (:mod:`minigraph.codegen.scanloop`); each
inner node adds lines through its template (:mod:`minigraph.codegen.templates`). A value of
the step is a :class:`Val`:

* a Numba scalar (rank 0), named by ``name``;
* or a *view* of a C-contiguous array ``base``: each of its dimensions reads one axis of the
  base from a start with a step (or is a broadcast dimension of size 1), and the other axes
  of the base are fixed at an index. Slicing, integer indexing, ``dimshuffle`` and
  transposes only change the view: no Numba array object is made and nothing is copied, and
  an elementwise loop reads ``base[i0, np.uintp(i1 + 256)]`` directly. The index is unsigned
  so that Numba adds no negative-index wraparound, which would stop LLVM from vectorising
  the innermost loop (measured: 0.13 ns per element against 0.77 ns signed, and 0.40 ns
  through a Numba slice of layout ``A``).

Buffers of a step's results are allocated once before the loop and reallocated only when a
size changes, so steps allocate nothing (:meth:`Emitter.buffer`).
"""

import re

import numpy as np


class Unsupported(Exception):
    """A node or loop the generator has no code for: the loop runs interpreted (the reason
    is what ``debugprint`` and ``profile`` show)."""


class Val:
    """A value in generated code (see the module docstring).

    Parameters
    ----------
    dtype : str
    name : str
        The scalar's name, or the base array's.
    dims : list of (axis or None, start, step)
        One per dimension of the value: the base axis it walks (None: a broadcast dimension
        of size 1), its first index (source text) and its step (int).
    fixed : dict
        Base axis -> index (source text) for the axes the value does not walk.
    shape : list of str
        Source text of each dimension's size.
    base_ndim : int
    """

    def __init__(self, dtype, name, dims=(), fixed=None, shape=(), base_ndim=0):
        self.dtype, self.name = str(dtype), name
        self.dims, self.fixed = list(dims), dict(fixed or {})
        self.shape, self.base_ndim = list(shape), base_ndim

    @classmethod
    def scalar(cls, name, dtype):
        return cls(dtype, name)

    @classmethod
    def array(cls, name, ndim, dtype):
        """The whole of the C-contiguous array ``name``."""
        return cls(dtype, name, [(a, "0", 1) for a in range(ndim)], {},
                   [f"{name}.shape[{a}]" for a in range(ndim)], ndim)

    @classmethod
    def row(cls, name, index, ndim, dtype):
        """``name[index]`` of a C-contiguous array of rank ``ndim + 1`` (``ndim`` > 0)."""
        return cls(dtype, name, [(a + 1, "0", 1) for a in range(ndim)], {0: index},
                   [f"{name}.shape[{a + 1}]" for a in range(ndim)], ndim + 1)

    @property
    def ndim(self):
        return len(self.dims)

    @property
    def is_scalar(self):
        return self.base_ndim == 0

    def is_whole(self):
        """True when the value is its whole base array, in order."""
        return not self.fixed and self.base_ndim == self.ndim and \
            self.dims == [(a, "0", 1) for a in range(self.ndim)]

    def at(self, ivars):
        """Source text of the element at the value's index ``ivars`` (one per dimension)."""
        if self.is_scalar:
            return self.name
        parts = [None] * self.base_ndim
        for a, e in self.fixed.items():
            parts[a] = e
        for (a, start, step), i in zip(self.dims, ivars):
            if a is None:
                continue
            if start == "0" and step == 1:
                parts[a] = i
            elif i == "0":
                parts[a] = start
            else:
                parts[a] = f"np.uintp({start} + {_times(step, i)})"
        return f"{self.name}[{', '.join(parts)}]" if parts else f"{self.name}[()]"

    def offset(self, itemsize):
        """Source text of the value's first element's offset in bytes from its base's data."""
        terms = [f"({e}) * {self.name}.strides[{a}]" for a, e in self.fixed.items()]
        terms += [f"({s}) * {self.name}.strides[{a}]" for a, s, _ in self.dims
                  if a is not None and s != "0"]
        return " + ".join(terms) if terms else "0"


def _times(step, i):
    return i if step == 1 else f"{step} * {i}"


def np_dtype(dtype):
    """Source text naming ``dtype`` in generated code."""
    return "np.bool_" if str(dtype) == "bool" else f"np.{dtype}"


_NAME = re.compile(r"\b(v|t|_a|_t)(\d+)")


class Emitter:
    """The lines of one generated function under construction.

    ``pre`` lines run once before the loop (buffer declarations), ``body`` lines inside it
    at the current ``depth``; names made by :meth:`fresh` never repeat.
    """

    def __init__(self, indent=2):
        self.pre, self.body = [], []
        self.prelude = {}  # module-level lines (constants, BLAS routines), in order
        self.dests, self.claimed = {}, set()  # see output()
        self.dest_of = {}  # variable -> its position among the loop's outputs
        self.checked = set()  # size pairs checked at the step's top level
        self.transposed = set()  # consts copied transposed before the loop (templates)
        self.depth = indent
        self.top = indent  # the step's top level (loop_source's body)
        self.nests, self._open = [], None  # top-level loop nests, for codegen/rows.py
        self._count = 0

    def fresh(self, prefix="x"):
        self._count += 1
        return f"{prefix}_{self._count}"  # the loop's own names (s0, c0, k0, ...) have no _

    def need(self, lines):
        """Module-level lines the code needs (each kept once, in first-seen order)."""
        self.prelude.update(dict.fromkeys(lines))

    def line(self, text):
        self.body.append("    " * self.depth + text)

    def lines(self, texts):
        for t in texts:
            self.line(t)

    def rename(self, texts):
        """``texts`` (lines from ``fused_kernels._body``) with their local names made unique
        in this function, and the function renaming one name the same way."""
        tag = self.fresh("r")

        def named(text):
            return _NAME.sub(lambda m: f"{tag}_{m.group(1).lstrip('_')}{m.group(2)}", text)

        return [named(t) for t in texts], named

    def buffer(self, shape, dtype):
        """Name of an array of ``shape`` (source texts) and ``dtype``, allocated before the
        loop and again only when the shape changes, in the call's scratch block ``mz``
        (``runtime.scratch``: memory whose pages stay mapped between calls, where Numba's
        own ``np.empty`` of a megabyte faults page by page each call)."""
        name = self.fresh("buf")
        nd = len(shape)
        zeros = "(" + "0, " * nd + ")" if nd else "()"
        self.pre.append(f"{name} = np.empty({zeros}, {np_dtype(dtype)})")
        tup = "(" + ", ".join(shape) + ("," if nd == 1 else "") + ")"
        nbytes = " * ".join([f"({s})" for s in shape] + [str(np.dtype(dtype).itemsize)])
        self.line(f"if {name}.shape != {tup}:")
        if nd:
            self.line(f"    {name} = _rt.scratch(mz, zs, {nbytes})"
                      f".view({np_dtype(dtype)}).reshape({tup})")
        else:
            self.line(f"    {name} = np.empty((), {np_dtype(dtype)})")
        return name

    def output(self, var, shape, dtype):
        """Where a template writes its result ``var`` of ``shape`` (sizes bound to names):
        the loop's own storage for it when ``var`` is a carry's new value or a per-step
        output (``dests``, set by :mod:`minigraph.codegen.scanloop`: the row of the trace,
        so no copy follows), else a buffer of the step."""
        dest = self.dests.pop(var, None)
        if dest is None:
            return Val.array(self.buffer(shape, dtype), len(shape), dtype)
        self.claimed.add(var)
        return dest(self, shape)

    def sizes(self, shape):
        """Bind each size of ``shape`` to a local name (read once, not per element)."""
        out = []
        for s in shape:
            if re.fullmatch(r"\w+", s):
                out.append(s)
            else:
                n = self.fresh("n")
                self.line(f"{n} = {s}")
                out.append(n)
        return out

    def fail(self, exc, message):
        """A line raising ``exc`` with a constant message (Numba needs constant messages;
        the interpreted rerun gives the full one, see :mod:`minigraph.codegen.scanloop`)."""
        return f"raise {exc}({message!r})"

    def loop_over(self, shape):
        """Open nested loops over ``shape``; return the index names (close with
        :meth:`close`)."""
        ivars = []
        if shape and self.depth == self.top and self._open is None:
            self._open = (len(self.body), shape[0])
        for s in shape:
            i = self.fresh("i")
            self.line(f"for {i} in range({s}):")
            self.depth += 1
            ivars.append(i)
        return ivars

    def close(self, n):
        self.depth -= n
        if self.depth == self.top and self._open is not None:
            start, extent = self._open
            head = self.body[start].strip()  # "for i_N in range(...):"
            self.nests.append((start, len(self.body), head.split()[1], extent))
            self._open = None


def check_same(em, a, b, what):
    """A line raising ValueError when the sizes ``a`` and ``b`` (source texts) differ.

    It calls ``_rt.same``, whose one ``raise`` serves every check: a raise written in the
    loop itself costs Numba blocks of its own, and the LSTM's backward loop has ~50 checks
    (compile time). A check already made at the step's top level is not repeated. ``what``
    is not in the source: the interpreted rerun gives the full message, and the source
    (the disk cache's key) then does not change when the user's lines move.
    """
    if a == b:
        return
    key = (a, b) if a < b else (b, a)
    if em.depth == em.top:  # the step's top level: every later line of the step runs after it
        if key in em.checked:
            return
        em.checked.add(key)
    em.line(f"_rt.same({a}, {b})")


def assign(em, dst, src, bcast=None):
    """Copy the value ``src`` into the view ``dst`` (same rank; ``bcast[d]``: ``src`` is
    broadcast along dimension ``d``, read at its start)."""
    if dst.is_scalar:
        raise Unsupported("a scalar destination")
    if dst.ndim == 0:
        em.line(f"{dst.at([])} = {src.at([]) if not src.is_scalar else src.name}")
        return
    shape = em.sizes(dst.shape)
    bcast = bcast or [False] * dst.ndim
    if not src.is_scalar:
        for d, (n, b) in enumerate(zip(shape, bcast)):
            if not b:
                check_same(em, src.shape[d], n, "shapes differ in an assignment")
    ivars = em.loop_over(shape)
    read = src.name if src.is_scalar else src.at(
        ["0" if b else i for i, b in zip(ivars, bcast)])
    em.line(f"{dst.at(ivars)} = {read}")
    em.close(len(ivars))


def fill(em, dst, value):
    """Set every element of the view ``dst`` to ``value`` (source text)."""
    shape = em.sizes(dst.shape)
    ivars = em.loop_over(shape)
    em.line(f"{dst.at(ivars)} = {value}")
    em.close(len(ivars))


def materialize(em, v):
    """``v`` as the whole of a C-contiguous array (itself when it already is one)."""
    if v.is_scalar or v.is_whole():
        return v
    shape = em.sizes(v.shape)
    buf = em.buffer(shape, v.dtype)
    out = Val.array(buf, v.ndim, v.dtype)
    assign(em, out, v)
    return out


def dtype_itemsize(dtype):
    return np.dtype(dtype).itemsize
