"""``scan``: Theano's loop API, lowered to the canonical :class:`~minigraph.scan.op.Scan`.

The builder calls ``fn`` once on placeholder variables and turns what Theano's API allows
into the op's one form:

* each tap of a sequence becomes its own sequence, cut so that row ``t`` holds
  ``seq[t + tap]``; ``go_backwards`` reverses the cut sequences; the number of steps is
  the shortest cut sequence (and ``n_steps`` when given);
* outputs with an initial value become carries (the op keeps their traces; the user gets
  the values after the initial ones), ``None`` entries become per-step outputs;
* explicit non-sequences, the outer variables ``fn`` uses without passing them, and shared
  variables become consts; shared variables that ``fn`` updates (an updates dict, or a
  ``default_update`` such as a random stream's) become carries whose final value is
  returned in ``updates``.

Nodes built while ``fn`` runs form the loop body; anything built before the call (an outer
expression ``fn`` refers to) is computed once, outside the loop, and passed in as a const.
"""

from collections import OrderedDict

import numpy as np

import minigraph.tensor as T
from minigraph.compile.sharedvalue import SharedVariable
from minigraph.config import config
from minigraph.graph.basic import (Constant, GraphError, Variable, ancestors, clone_replace,
                                   user_line)
from minigraph.graph.testvalues import get_test_value
from minigraph.graph.testvalues import quietly
from minigraph.graph.type import GenericType, TensorType

from .checks import Ctx, check_carry_type, check_length, check_update
from .op import Carry, make_scan
from .until import take_until


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, strict=False, name=None, mode=None,
         return_list=False, profile=False):
    """Apply ``fn`` over sequences step by step, feeding outputs back (Theano's ``scan``).

    Its meaning, for one sequence, one output with an initial value and one non-sequence::

        h = h0
        outputs = []
        for t in range(min(len(x), n_steps or inf)):
            h = fn(x[t], h, W)
            outputs.append(h)
        return stack(outputs), updates

    Parameters
    ----------
    fn : callable
        Called once with symbolic arguments, in Theano's order: every tap of every
        sequence, then every tap of every fed-back output, then the non-sequences. It
        returns an output, a list of outputs, an updates dict, or outputs and updates.
    sequences : Variable, dict or list of them
        Iterated over their first dimension. ``dict(input=x, taps=[-1, 0, 1])`` passes
        ``x[t-1], x[t], x[t+1]`` at step ``t`` (the steps start where every tap exists).
    outputs_info : list
        One entry per output of ``fn``: an initial value (fed back as tap -1), ``None``
        (not fed back), or ``dict(initial=x0, taps=[-2, -1])`` where ``x0`` holds the
        two values before the first step (oldest first).
    non_sequences : list, optional
        Passed unchanged to every step.
    n_steps : int or int scalar, optional
        Number of steps; with sequences, the shortest of all wins.
    truncate_gradient : int
        Back-propagate through the last ``truncate_gradient`` steps only (-1: all).
    go_backwards : bool
        Iterate over the sequences from the end; outputs come in the order computed.
    strict : bool
        Refuse shared variables that ``fn`` uses without their being in
        ``non_sequences`` (otherwise they are picked up implicitly).
    name : str, optional
        Names the loop in printouts and error messages.
    mode : Mode or str, optional
        Compilation mode of the loop body.
    return_list : bool
        Always return a list of outputs.
    profile : bool
        Accepted for Theano compatibility (profile the compiled function instead).

    Returns
    -------
    outputs : Variable or list of Variable
        Each of shape ``(n_steps, ...)``; one output comes back alone.
    updates : OrderedDict
        ``{shared variable: value after the last step}``; pass it to ``function``.

    Examples
    --------
    >>> import numpy as np, minigraph as theano, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> sums, updates = theano.scan(lambda x_t, acc: acc + x_t, sequences=x,
    ...                             outputs_info=T.constant(0.0, dtype="float64"))
    >>> theano.function([x], sums)(np.arange(4.0)).tolist()
    [0.0, 1.0, 3.0, 6.0]
    """
    where = user_line()
    what = f"scan {name!r}" if name else "scan"
    ctx = Ctx(what, where)
    seqs = _sequences(sequences, ctx)
    outs_spec = _outputs_info(outputs_info, ctx)
    non_seqs = [v if isinstance(v, Variable) else T.as_tensor_variable(v)
                for v in _as_list(non_sequences)]
    steps = _n_steps(n_steps, ctx)
    if not seqs and steps is None:
        raise GraphError(f"{ctx.what}: give sequences or n_steps, so the number of steps is "
                         f"known (scan at {where})")

    seq_args, seq_pairs, lengths = _lower_sequences(seqs, go_backwards, ctx)
    carry_args = _carry_placeholders(outs_spec, name, ctx)
    if config.compute_test_value != "off":
        _placeholder_test_values(seq_pairs, carry_args, outs_spec)
    marker = Variable(GenericType("marker")).id  # nodes built from here on form the body
    result = fn(*(seq_args + [p for _, phs in carry_args for p in phs] + non_seqs))
    result, stop = take_until(result, ctx)
    outputs, updates = _split_result(result, outs_spec, ctx)
    updates = _with_default_updates(outputs + stop, updates, marker)

    body = _Body(marker, set(seq_args) | {p for _, phs in carry_args for p in phs}, non_seqs)
    roots = outputs + list(updates.values()) + stop
    consts, shared_carries = body.lift(roots, updates, strict, ctx)
    with quietly():  # the copy reads the consts' fresh placeholders
        inner = clone_replace(roots, body.replace)
    inner_outs = inner[: len(outputs)]
    inner_upds = inner[len(outputs): len(inner) - len(stop)]

    carries, ys, y_labels, order = _canonical(outs_spec, carry_args, inner_outs, ctx)
    for (shared, ph), value in zip(shared_carries, inner_upds):
        value = check_update(shared, value, ctx)
        carries.append(Carry([ph], (-1,), shared, value, False,
                             f"the update of shared variable {shared.describe()}"))
    if not carries and not ys:
        raise GraphError(f"{ctx.what}: fn returned no outputs and no updates (scan at {where})")
    total = _total_steps(lengths, steps)
    carry_outs, y_outs = make_scan(total, seq_pairs, carries, ys, consts, name=name,
                                   truncate_gradient=truncate_gradient, mode=mode,
                                   y_labels=y_labels, until=inner[-1] if stop else None)
    for j, (shared, _) in enumerate(shared_carries):
        if shared.id >= marker and shared.default_update is not None:
            # a generator made inside fn (a random stream): functions that use the loop
            # advance it by the loop's draws even when the updates are not passed
            shared.default_update = carry_outs[len(carries) - len(shared_carries) + j]
    return _results(carries, carry_outs, y_outs, order, shared_carries, return_list, name)


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _sequences(sequences, ctx):
    """``[(variable, taps)]`` from Theano's forms."""
    out = []
    for i, s in enumerate(_as_list(sequences)):
        if isinstance(s, dict):
            if "input" not in s:
                raise ctx.error(f"sequences[{i}] is a dict without 'input'")
            var, taps = s["input"], s.get("taps", [0])
            taps = [0] if taps is None else _as_list(taps)
        else:
            var, taps = s, [0]
        var = var if isinstance(var, Variable) else T.as_tensor_variable(var)
        if not isinstance(var.type, TensorType) or var.ndim < 1:
            raise ctx.error(f"sequences[{i}] must be a tensor with at least one dimension to "
                            f"iterate over, got {getattr(var.type, 'short', lambda: var.type)()}")
        if not taps or not all(isinstance(k, (int, np.integer)) for k in taps) or \
                len(set(taps)) != len(taps):
            raise ctx.error(f"sequences[{i}]: taps must be distinct ints, got {taps}")
        out.append((var, [int(k) for k in taps]))
    return out


def _outputs_info(outputs_info, ctx):
    """``[None | (initial, taps)]``: None for an output that is not fed back."""
    if outputs_info is None:
        return None
    items = outputs_info if isinstance(outputs_info, (list, tuple)) else [outputs_info]
    out = []
    for i, o in enumerate(items):
        if isinstance(o, dict):
            init, taps = o.get("initial"), o.get("taps", [-1])
            if init is None:
                if o.get("taps"):
                    raise ctx.error(f"outputs_info[{i}] has taps but no 'initial' value")
                out.append(None)
                continue
            taps = [-1] if taps is None else _as_list(taps)
            if not taps or any(not isinstance(k, (int, np.integer)) or k >= 0 for k in taps) \
                    or len(set(taps)) != len(taps):
                raise ctx.error(f"outputs_info[{i}]: taps must be distinct negative ints "
                                f"(past values), got {taps}")
            taps = [int(k) for k in taps]
        elif o is None:
            out.append(None)
            continue
        else:
            init, taps = o, [-1]
        init = init if isinstance(init, Variable) else T.as_tensor_variable(init)
        out.append((init, taps))
    return out


def _n_steps(n_steps, ctx):
    if n_steps is None:
        return None
    if isinstance(n_steps, (int, np.integer)) and not isinstance(n_steps, bool):
        if n_steps < 0:
            raise ctx.error(f"n_steps is {n_steps}; it must be >= 0")
        return int(n_steps)
    var = T.as_tensor_variable(n_steps)
    if var.ndim != 0 or np.dtype(var.dtype).kind not in "iu":
        raise ctx.error(f"n_steps must be an int or an int scalar, got {var.type.short()}")
    if isinstance(var, Constant):
        return _n_steps(int(var.data), ctx)
    return var


def _lower_sequences(seqs, go_backwards, ctx):
    """Placeholders for ``fn``, (placeholder, cut sequence) pairs, and each cut's length."""
    args, pairs, lengths = [], [], []
    for i, (var, taps) in enumerate(seqs):
        lo, hi = min(min(taps), 0), max(max(taps), 0)
        span, base = hi - lo, var.name or f"seq{i}"
        n = var.type.shape[0]
        if n is not None and n < span:
            raise ctx.error(f"sequences[{i}] has {n} rows but its taps {taps} need at least "
                            f"{span} (tap {lo} to tap {hi})")
        if span and n is None:
            var = check_length(var, span, f"{ctx.what}: sequences[{i}] with taps {taps}",
                               ctx.where)
        for k in taps:
            start, stop = (k - lo) or None, (k - hi) or None
            cut = var[start:stop]
            if go_backwards:
                cut = cut[::-1]
            tag = "t" if k == 0 else f"t{k:+d}"
            ph = TensorType(var.dtype, shape=var.type.shape[1:])(f"{base}[{tag}]")
            args.append(ph)
            pairs.append((ph, cut))
        if n is not None:
            lengths.append(n - span)
        else:
            lengths.append(var.shape[0] - span if span else var.shape[0])
    return args, pairs, lengths


def _carry_placeholders(outs_spec, name, ctx):
    """For each fed-back output: (index, tap placeholders); checks the initial windows."""
    out = []
    for i, spec in enumerate(outs_spec or []):
        if spec is None:
            continue
        init, taps = spec
        if taps == [-1]:
            st = init.type
        else:
            if not isinstance(init.type, TensorType) or init.ndim < 1:
                raise ctx.error(f"outputs_info[{i}]: taps {taps} need an initial value with "
                                f"one row per past step, got a {init.ndim}-d value")
            rows, need = init.type.shape[0], -min(taps)
            if rows is not None and rows < need:
                raise ctx.error(f"outputs_info[{i}]: taps {taps} need {need} initial rows, the "
                                f"initial value has {rows}")
            st = TensorType(init.dtype, shape=init.type.shape[1:])
        base = init.name or f"{name or 'out'}{i if len(outs_spec) > 1 or not name else ''}"
        out.append((i, [st(f"{base}[t{k:+d}]") for k in taps]))
    return out


def _placeholder_test_values(seq_pairs, carry_args, outs_spec):
    """Step arguments get test values (each sequence's first row, each output's initial
    values) so that ``fn``'s nodes compute theirs, as in Theano."""
    for ph, cut in seq_pairs:
        value = get_test_value(cut)
        if value is not None and len(value):
            ph.tag.test_value = value[0]
    for i, phs in carry_args:
        init, taps = outs_spec[i]
        value = get_test_value(init)
        if value is None:
            continue
        for ph, k in zip(phs, taps):
            ph.tag.test_value = value if taps == [-1] else value[-min(taps) + k]


def _split_result(result, outs_spec, ctx):
    """(outputs, updates) from what ``fn`` returned; one output per outputs_info entry."""
    def is_updates(x):
        if isinstance(x, dict):
            return True
        return isinstance(x, (list, tuple)) and len(x) > 0 and all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], SharedVariable)
            for p in x)

    outs, upd = result, {}
    if is_updates(result):
        outs, upd = [], result
    elif isinstance(result, (list, tuple)) and len(result) == 2 and is_updates(result[1]):
        outs, upd = result
    elif isinstance(result, (list, tuple)) and len(result) == 2 and is_updates(result[0]):
        upd, outs = result
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    checked = []
    for i, o in enumerate(outs):
        if o is None:
            raise ctx.error(f"fn returned None as output {i}")
        if not isinstance(o, Variable):
            try:
                o = T.as_tensor_variable(o)
            except Exception:
                raise ctx.error(f"fn returned {o!r} as output {i}; return symbolic "
                                f"variables") from None
        checked.append(o)
    if outs_spec and len(checked) != len(outs_spec):
        raise ctx.error(
            f"fn returned {len(checked)} output(s) but outputs_info has {len(outs_spec)} "
            f"entries; give one entry per output: its initial value, None for an output that "
            f"is not fed back, or dict(initial=..., taps=[...])")
    return checked, OrderedDict(upd.items() if isinstance(upd, dict) else upd)


def _with_default_updates(outputs, updates, marker):
    """Add the default updates (random streams) of shared variables the body reads."""
    roots = list(outputs) + list(updates.values())
    while True:
        new = [v for v in ancestors(roots, blockers=_outer(roots, marker))
               if isinstance(v, SharedVariable) and v not in updates
               and v.default_update is not None and v.default_update.id >= marker]
        if not new:
            return updates
        for v in new:
            updates[v] = v.default_update
            roots.append(v.default_update)


def _outer(roots, marker):
    """Variables built before ``fn`` ran: the body stops there."""
    return {v for v in ancestors(roots) if v.owner is not None and v.id < marker}


class _Body:
    """Finds what the loop body reads from outside and makes a placeholder for each."""

    def __init__(self, marker, placeholders, non_seqs):
        self.marker, self.placeholders, self.non_seqs = marker, placeholders, non_seqs
        self.replace = {}

    def lift(self, roots, updates, strict, ctx):
        """``(consts, shared carries)``: [(placeholder, outer)], [(shared, placeholder)]."""
        Shared = SharedVariable
        blockers = _outer(roots, self.marker) | set(self.non_seqs)
        leaves = [v for v in ancestors(roots, blockers=blockers)
                  if v.owner is None or v in blockers]
        leaves.sort(key=lambda v: v.id)
        explicit = [v for v in self.non_seqs if not isinstance(v, Constant)]
        implicit = [v for v in leaves if v not in self.placeholders and v not in explicit
                    and not isinstance(v, Constant)]
        shared_carries = []
        for s in updates:
            ph = s.type.make_variable(name=s.name)
            self.replace[s] = ph
            shared_carries.append((s, ph))
        consts = []
        for v in explicit + [v for v in implicit if not isinstance(v, Shared)] + \
                [v for v in implicit if isinstance(v, Shared)]:
            if v in self.replace:
                continue
            if strict and isinstance(v, Shared) and v not in explicit:
                raise ctx.error(
                    f"strict=True, but fn uses the shared variable {v.describe()} "
                    f"(created at {getattr(v, 'trace', '?')}) without its being in "
                    f"non_sequences; pass it in non_sequences=[...] or use strict=False")
            ph = v.type.make_variable(name=v.name)
            self.replace[v] = ph
            consts.append((ph, v))
        return consts, shared_carries


def _canonical(outs_spec, carry_args, inner_outs, ctx):
    """Carries and ys of the user's outputs, and where each user output comes from."""
    spec = outs_spec if outs_spec else [None] * len(inner_outs)
    phs = dict(carry_args)
    carries, ys, labels, order = [], [], [], []
    for i, (s, out) in enumerate(zip(spec, inner_outs)):
        if s is None:
            if not isinstance(out.type, TensorType):
                raise ctx.error(f"output {i} of fn is a {out.type}, not a tensor")
            order.append(("y", len(ys)))
            ys.append(out)
            labels.append(f"output {i}")
            continue
        init, taps = s
        out = check_carry_type(i, init, phs[i][0].type, out, ctx)
        L = -min(taps)
        init_in = init if taps == [-1] else init[:L]
        order.append(("carry", len(carries)))
        carries.append(Carry(phs[i], tuple(taps), init_in, out, True, f"output {i}"))
    return carries, ys, labels, order


def _total_steps(lengths, steps):
    parts = list(lengths) + ([steps] if steps is not None else [])
    static = [p for p in parts if isinstance(p, int)]
    symbolic = [p for p in parts if not isinstance(p, int)]
    total = min(static) if static else None
    for p in symbolic:
        total = p if total is None else T.minimum(total, p)
    return total


def _results(carries, carry_outs, y_outs, order, shared_carries, return_list, name):
    outs = []
    for i, (kind, k) in enumerate(order):
        if kind == "y":
            v = y_outs[k]
        else:
            L = -min(carries[k].taps)
            v = carry_outs[k][L:]
        if name:
            v.name = f"{name}[{i}]" if len(order) > 1 else name
        outs.append(v)
    first = len(carries) - len(shared_carries)
    updates = OrderedDict((s, carry_outs[first + j]) for j, (s, _) in enumerate(shared_carries))
    if return_list:
        return outs, updates
    return (outs[0] if len(outs) == 1 else outs), updates
