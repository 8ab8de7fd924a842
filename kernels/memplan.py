"""A function's big arrays laid out in one kept arena, from the lifetimes of an earlier call.

A train step asks for the same big arrays in the same order every call: a scan's traces and
per-step outputs, products, fused kernels' results. Fresh memory costs page faults and the
kernel zeroing every page on each call: Gorner's LSTM char-RNN took about 520 MB of fresh
pages a step, 200-300 ms of system time out of 1.4-1.6 s (``benchmarks/charrnn.py``'s worker,
2 threads). Keeping freed memory (glibc's heap, or ``kernels/workspace.py``'s kept blocks
for every size) removes that cost but raises the peak: blocks of one size sit idle while a
request of another size takes new memory (Gorner's LSTM: 745 -> 845 and 871 MB).

A `MemoryPlan` does what a compiler's buffer assignment does, from a recorded call instead of
static shapes:

1. **Record.** Every call notes its big requests (``Workspace.empty`` and ``fresh_empty``,
   from 1 MB up): ``(size, born, died)`` in a count of births and deaths, each death (the
   last view of the array dropped) seen by a ``weakref.finalize``. The first call's arrays
   are fresh memory.
2. **Plan.** The arrays that died within the call get offsets in one arena, biggest first,
   each at the lowest offset free of every placed array whose lifetime overlaps its own
   (arrays that outlive the call, such as outputs and new values of shared variables, stay
   fresh). The arena holds about what was live at the busiest moment.
3. **Replay.** Later calls hand out the i-th request at its planned offset, in memory whose
   pages stay mapped; a request that outlived its call gets the caller's usual memory
   (``Workspace`` blocks, fresh huge pages). A request of another size, or a planned range
   still held by someone (checked against every live arena array), gets fresh memory, and
   a call that strayed from the plan makes the next plan from its own record.

One arena serves every plan: top-level calls do not overlap, so the arena is as big as the
biggest plan. Calls in other threads meet arrays still live and get fresh memory; nested
calls (a function called inside another's call) belong to the outer call's plan.
"""

import threading
import weakref

import numpy as np

__all__ = ["MemoryPlan", "active", "planned_call"]

ALIGN = 4096  # planned arrays start on a page


class _Arena:
    """The kept memory of every plan, and the arrays handed out from it that are alive."""

    def __init__(self):
        self.raw = None  # uint8 array from kernels/workspace.py's aligned_bytes
        self.view = None  # its memoryview, sliced for each array
        self.live = {}  # token -> (start, end) of arena arrays not yet dead
        self.lock = threading.RLock()
        self.tokens = iter(range(1 << 62))

    def reserve(self, nbytes):
        """Make the arena at least `nbytes` (arrays handed out keep the old one alive)."""
        if self.raw is None or self.raw.size < nbytes:
            from kernels.workspace import aligned_bytes

            self.raw = aligned_bytes(nbytes)
            self.view = self.raw.data
            self.live = {}  # ranges of the old arena no longer overlap the new one

    def take(self, start, nbytes):
        """The arena's bytes ``[start, start + nbytes)`` as a uint8 array, or None when a live
        array holds part of them."""
        end = start + nbytes
        with self.lock:
            if self.raw is None or end > self.raw.size:
                return None
            for s, e in list(self.live.values()):
                if s < end and start < e:
                    return None
            piece = np.frombuffer(self.view[start:end], np.uint8)
            token = next(self.tokens)
            self.live[token] = (start, end)
        weakref.finalize(piece, self._free, self.live, token)
        return piece

    def _free(self, live, token):
        with self.lock:
            live.pop(token, None)


ARENA = _Arena()
class _Local(threading.local):
    plan = None  # the plan of this thread's running top-level call


LOCAL = _Local()


def active():
    """The plan of this thread's current top-level call, or None."""
    return LOCAL.plan


class MemoryPlan:
    """Where one function's big arrays go, call after call (see the module's docstring).

    Examples
    --------
    >>> plan = MemoryPlan()
    >>> def call():  # two temporaries that never live at once, then a result
    ...     with planned_call(plan):
    ...         a = plan.take(4 << 20); del a
    ...         b = plan.take(4 << 20); del b
    ...         return plan.take(1 << 20)
    >>> out = call()                 # recorded
    >>> plan.size == 4 << 20         # one range serves both temporaries
    True
    >>> call() is None               # replayed: the result outlived its call, so the
    True
    >>> plan.replays                 # caller's own memory serves it (None)
    1
    """

    def __init__(self):
        self.offsets = []  # per request: (nbytes, arena offset, or None: it outlived its call)
        self.size = 0  # arena bytes the plan needs
        self.replays = 0  # calls that followed the plan to the end
        self._record = None  # this call's requests: [nbytes, born, died or None]
        self._events = 0
        self._i = 0
        self._strayed = False

    def begin(self):
        """Open a call (its record starts at its first request: most calls of small
        functions make none)."""
        self._i = 0
        self._strayed = False

    def end(self, failed=False):
        """Close the call: a call that strayed from the plan (or the first) makes the next
        plan; a failed one changes nothing."""
        record, self._record = self._record, None
        if failed:
            return
        if self._strayed or self._i != len(self.offsets):
            self._plan(record or [])
        elif record is not None:
            self.replays += 1

    def take(self, nbytes):
        """A uint8 array of `nbytes` for this call's next big request, or None when the
        caller's own memory should serve it (it outlived the call when recorded)."""
        i = self._i
        self._i += 1
        record = self._record
        if record is None:  # the call's first request
            record = self._record = []
            self._events = 0
        record.append([nbytes, self._events, None])
        self._events += 1
        if not self._strayed and i < len(self.offsets) and self.offsets[i][0] == nbytes:
            start = self.offsets[i][1]
            if start is None:
                return None
            piece = ARENA.take(start, nbytes)
        else:
            piece = None
        if piece is None:  # not in the plan, or its range still held: fresh, recorded
            from kernels.workspace import aligned_bytes

            self._strayed = True
            piece = np.frombuffer(aligned_bytes(nbytes).data, np.uint8)
        weakref.finalize(piece, self._died, record, i)
        return piece

    def _died(self, record, i):
        if record is self._record:  # still that call
            record[i][2] = self._events
            self._events += 1

    def _plan(self, record):
        """Offsets for the arrays that died within the recorded call, biggest first, each
        at the lowest offset clear of the placed arrays alive at the same time and of the
        arena's arrays still held."""
        order = sorted((i for i, r in enumerate(record) if r[2] is not None),
                       key=lambda i: -record[i][0])
        with ARENA.lock:  # arena arrays still held (past their call, or another thread's)
            placed = [(s, e, -1, 1 << 62) for s, e in ARENA.live.values()]  # (start, end,
        held = len(placed)  # born, died) of each placed range
        offsets = [(r[0], None) for r in record]
        for i in order:
            nbytes, born, died = record[i]
            size = -(-nbytes // ALIGN) * ALIGN
            clash = sorted((s, e) for s, e, b, d in placed if b < died and born < d)
            start = 0
            for s, e in clash:
                if start + size <= s:
                    break
                start = max(start, e)
            placed.append((start, start + size, born, died))
            offsets[i] = (nbytes, start)
        self.offsets = offsets
        self.size = max((e for _, e, _, _ in placed[held:]), default=0)
        ARENA.reserve(self.size)


class planned_call:
    """Context manager: big requests of this thread's calls inside it go through `plan`,
    unless a call is already running (then they belong to it)."""

    __slots__ = ("plan", "outer")

    def __init__(self, plan):
        self.plan = plan

    def __enter__(self):
        self.outer = LOCAL.plan
        if self.outer is None and self.plan is not None:
            LOCAL.plan = self.plan
            self.plan.begin()
        return self.plan

    def __exit__(self, *exc):
        if self.outer is None and self.plan is not None:
            LOCAL.plan = None
            self.plan.end(failed=exc[0] is not None)
        return False
