"""Row fusion: consecutive loop nests of a step merged into one pass over their rows.

Each elementwise region, copy or fill of a step is its own loop nest
(:mod:`minigraph.codegen.templates`), so a step of an LSTM walks its gate arrays three times
forward and nine times backward. Between two products of the step, most nests share their
outer extent (the batch) and read what an earlier nest wrote only at their own row. Those
nests become one loop over the rows whose body runs each nest's inner loops in order: a
row's gates stay in the first-level cache from the nest that writes it to the one that
reads it, and the merged loop is the unit of parallelism: one ``numba.prange`` when the
loop runs on several threads (:func:`fuse_rows`'s ``parallel``), one fork and join per
pass. Measured on this 2-core machine it did not pay (the merged body ran slower, prange
or not), so the loop compiler runs it only with ``LoopPolicy.row_fusion`` (off by default;
docs/codegen.md, "Row fusion", has the numbers).

The pass works on the generated lines (:class:`~minigraph.codegen.emitter.Emitter` records
where each top-level nest starts and ends) and is conservative; a nest joins the group
before it only when

* its outer extent is the group's (the same name, or two names the step checked equal with
  ``_rt.same`` at its top level);
* every array element it writes is at its own row (the outer index is one of the
  subscripts, always at the same position of that array);
* every access of an array written in the group, by it or by a nest before it, is at the
  accessing nest's own row, at the position where the group writes it (so no nest reads or
  overwrites another row than the one being computed);
* the scalars it assigns are its own (an accumulator declared before it is a reduction
  across rows).

The top-level lines between two nests of a group (sizes, checks, buffer allocations) move
above the group when they read no element the group writes and rebind no name it uses; a
line that does not (or calls BLAS by address, or leaves the loop) ends the group.
"""

import re

_WORD = re.compile(r"[A-Za-z_]\w*")
_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?:[-+*/]?=)(?!=)")
_SIZE = re.compile(r"([A-Za-z_]\w*) = ([^=]+)")
_REMADE = re.compile(r"if ([A-Za-z_]\w*)\.shape != \((.*)\):")
_BARRIERS = (".ctypes", "_gemm_", "_gemv_", "break", "return", "raise ")


def accesses(text):
    """``[(name, [subscripts], is_write)]`` of the subscripted names in ``text``, one line
    of generated code (nested brackets allowed inside a subscript)."""
    out = []
    lhs_end = _lhs_end(text)
    i = 0
    while True:
        m = re.compile(r"([A-Za-z_]\w*)\[").search(text, i)
        if m is None:
            return out
        depth, j = 0, m.end() - 1
        parts, start = [], j + 1
        while j < len(text):
            ch = text[j]
            if ch in "[(":
                depth += 1
            elif ch in "])":
                depth -= 1
                if depth == 0:
                    break
            elif ch == "," and depth == 1:
                parts.append(text[start:j].strip())
                start = j + 1
            j += 1
        parts.append(text[start:j].strip())
        preceded = m.start() > 0 and text[m.start() - 1] == "."
        if not preceded:  # x.shape[0] is a size, not an element
            out.append((m.group(1), parts, lhs_end is not None and m.start() < lhs_end))
        i = m.end()


def _split_top(text):
    """``text`` split at its commas outside brackets, each part stripped."""
    parts, depth, start = [], 0, 0
    for j, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:j].strip())
            start = j + 1
    return parts + [text[start:].strip()]


def _lhs_end(text):
    """Where the left side of an assignment statement ends, or None."""
    depth = 0
    for j, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif depth == 0 and ch == "=" and text[j + 1:j + 2] != "=" and \
                text[j - 1:j] not in ("=", "!", "<", ">"):
            return j
    return None


class _Nest:
    """One top-level loop nest: its lines, outer index and extent, what it touches."""

    def __init__(self, lines, ivar, extent):
        self.lines, self.ivar, self.extent = lines, ivar, extent
        self.writes, self.reads, self.scalars = {}, {}, set()
        self.ok = True
        for ln in lines[1:]:
            for name, parts, write in accesses(ln):
                (self.writes if write else self.reads).setdefault(name, []).append(parts)
            m = _ASSIGNED.match(ln)
            if m and "[" not in ln[:m.end()]:
                self.scalars.update(n.strip() for n in m.group(1).split(","))
        self.row_at = {}
        for name, subs in self.writes.items():
            pos = {p.index(ivar) if ivar in p else None for p in subs}
            if len(pos) != 1 or None in pos:
                self.ok = False  # a write off its own row: a reduction or a transpose
            else:
                self.row_at[name] = pos.pop()
        self.words = set(_WORD.findall("\n".join(lines)))

    def at_own_row(self, name, pos):
        """True when every access of ``name`` in this nest is at its row, position ``pos``."""
        for subs in self.writes.get(name, []) + self.reads.get(name, []):
            if len(subs) <= pos or subs[pos] != self.ivar:
                return False
        return True


class _Group:
    def __init__(self):
        self.nests, self.hoisted = [], []

    def written(self):
        out = {}
        for n in self.nests:
            out.update(n.row_at)
        return out

    def accepts(self, nest, equal):
        if not self.nests:
            return True
        if not nest.ok or not self.nests[0].ok:  # a nest writing off its rows stays alone
            return False
        if not equal(self.nests[0].extent, nest.extent):
            return False
        written = self.written()
        for name, pos in written.items():
            if name in nest.row_at and nest.row_at[name] != pos:
                return False
            if not nest.at_own_row(name, pos):
                return False
        for name, pos in nest.row_at.items():
            for other in self.nests:
                if not other.at_own_row(name, pos):
                    return False
        for other in self.nests:  # scalars are per nest; names must not cross
            if nest.scalars & other.words or other.scalars & nest.words:
                return False
        return True

    def hoists(self, stmt):
        """True when the top-level statement ``stmt`` (its lines) may run before the group:
        it uses an array of the group only for its shape (a call such as an MRG draw may
        change an array it is passed), rebinds no name of the group and reads no scalar
        the group sets."""
        text = "\n".join(stmt)
        if any(b in text for b in _BARRIERS):
            return False
        words = set().union(*(n.words for n in self.nests))
        arrays = set().union(*(set(n.writes) | set(n.reads) for n in self.nests))
        scalars = set().union(*(n.scalars for n in self.nests))
        used = set(_WORD.findall(text))
        if used & scalars:
            return False
        for name in used & arrays:
            if len(re.findall(rf"\b{name}\b(?!\.shape\b)", text)) > 0:
                return False
        for ln in stmt:
            m = _ASSIGNED.match(ln)
            if m and "[" not in ln[:m.end()]:
                if {n.strip() for n in m.group(1).split(",")} & words:
                    return False
        return True

    def lines(self, prange, tag=""):
        """The group's lines: the hoisted statements, then one loop over the rows (a
        ``numba.prange`` one with ``prange``, whose arrays are new views named with
        ``tag``: see below)."""
        out = list(self.hoisted)
        if not self.nests:
            return out
        first = self.nests[0]
        head = first.lines[0]
        body = []
        for n in self.nests:
            rename = re.compile(rf"\b{re.escape(n.ivar)}\b")
            body += [rename.sub(first.ivar, ln) for ln in n.lines[1:]]
        if prange:
            # A parfor of Numba 0.6x that uses an array variable rebound every step (a
            # carry's buffers swap: ``w0, w0n = w0n, w0``, codegen/scanloop.py) corrupted
            # the heap (seen: the LSTM char-RNN's gradient loop, one thread or two). The
            # parfor reads fresh views instead, bound once per step just before it.
            arrays = set().union(*(set(n.writes) | set(n.reads) for n in self.nests))
            arrays |= set(re.findall(r"\b([A-Za-z_]\w*)\.shape\b", "\n".join(body)))
            indent = head[:len(head) - len(head.lstrip())]
            for name in sorted(arrays):
                out.append(f"{indent}{name}{tag} = {name}[:]")
                word = re.compile(rf"\b{re.escape(name)}\b")
                head = word.sub(name + tag, head)
                body = [word.sub(name + tag, ln) for ln in body]
            head = head.replace(" in range(", " in numba.prange(", 1)
        return out + [head] + body

    def parallel_ok(self, outside):
        """True when the rows of the group may run on several threads: every nest writes
        at its own rows, nothing in it raises (an exception in a worker thread), and no
        scalar it assigns is read or set outside it (``outside``: the words of every other
        line of the step), so no value must leave a row's iteration."""
        if not self.nests or not all(n.ok for n in self.nests):
            return False
        text = "\n".join(ln for n in self.nests for ln in n.lines)
        if "_rt." in text or "raise " in text:
            return False
        return not set().union(*(n.scalars for n in self.nests)) & outside


def fuse_rows(body, nests, parallel=False):
    """The step's ``body`` lines with row-compatible consecutive nests merged (module
    docstring). ``nests``: ``(start, end, ivar, extent)`` of each top-level nest, body
    indices. Two extents are equal when a ``_rt.same`` check of them runs before the merged
    loop. ``parallel``: the loops over rows run as ``numba.prange`` where that is safe
    (``_Group.parallel_ok``).

    Returns ``(lines, passes)``: the new body and how many loops over rows remain of the
    ``len(nests)`` nests.
    """
    parent = {}

    def find(a):
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    def checks(stmt):
        """Learn the sizes ``stmt`` makes equal for every later line: a top-level
        ``_rt.same(a, b)``, a size bound to a name (``n_5 = x.shape[1]``), a buffer
        (re)made with a shape (``Emitter.buffer``)."""
        text = stmt[0].strip()
        if len(stmt) == 1 and text.startswith("_rt.same(") and text.endswith(")"):
            args = _split_top(text[len("_rt.same("):-1])
            if len(args) == 2:
                union(*args)
        m = _SIZE.fullmatch(text)
        if len(stmt) == 1 and m and not accesses(m.group(2)):
            union(m.group(1), m.group(2).strip())
        m = _REMADE.fullmatch(text)
        if len(stmt) == 2 and m:
            sizes = [p for p in _split_top(m.group(2)) if p]
            for d, n in enumerate(sizes):
                union(f"{m.group(1)}.shape[{d}]", n)

    def union(a, b):
        parent[find(a)] = find(b)

    def equal(a, b):
        return a == b or find(a) == find(b)

    starts = {s: (e, iv, ext) for s, e, iv, ext in nests}
    items, i = [], 0
    indent = min((len(ln) - len(ln.lstrip()) for ln in body), default=0)
    while i < len(body):
        if i in starts:
            e, iv, ext = starts[i]
            items.append(_Nest(body[i:e], iv, ext))
            i = e
            continue
        j = i + 1  # a statement: its line and the deeper lines under it
        while j < len(body) and j not in starts and \
                len(body[j]) - len(body[j].lstrip()) > indent:
            j += 1
        items.append(body[i:j])
        i = j
    out, group, groups = [], _Group(), []

    def flush():
        nonlocal group
        if group.nests or group.hoisted:
            out.append(group)
            groups.append(group)
        group = _Group()

    for item in items:
        if isinstance(item, _Nest):
            if not group.accepts(item, equal):
                flush()
            group.nests.append(item)
        elif group.nests and group.hoists(item):
            group.hoisted.extend(item)
            checks(item)
        else:
            flush()
            out.extend(item)
            checks(item)
    flush()
    lines = []
    for k, part in enumerate(out):
        if not isinstance(part, _Group):
            lines.append(part)
            continue
        prange = False
        if parallel:
            rest = [ln for other in out if other is not part
                    for ln in (other.lines(False) if isinstance(other, _Group) else [other])]
            prange = part.parallel_ok(set(_WORD.findall("\n".join(rest + part.hoisted))))
        lines += part.lines(prange, f"_p{k}")
    return lines, sum(bool(g.nests) for g in groups)
