"""``function()``: compile symbolic inputs/outputs/updates into a callable.

Steps: substitute ``givens``; collect updates (explicit, then shared variables' default
updates); clone the graph into a ``FunctionGraph``; run the mode's passes; link. A call
checks and converts its inputs (errors name the input, the expected and the given type),
runs the generated code, then assigns every update at once: an exception leaves every
shared variable as it was.
"""

import sys
import time
import warnings
from collections import OrderedDict

import numpy as np

import minigraph.tensor as T
from kernels import memplan
from minigraph.graph.basic import (Constant, GraphError, Variable, ancestors, clone_replace,
                                   graph_inputs, where, with_user_line)
from minigraph.graph.fg import FunctionGraph
from minigraph.graph.type import InputTypeError, TensorType
from minigraph.pydot import repr_svg
from minigraph.tensor.shape import specify_shape_like

from .debugmode import compare, link_reference
from .linker import failing_node, link
from .mode import get_mode
from .nanguardmode import make_node_check
from .profiling import ProfileStats
from .sharedvalue import SharedVariable


class UnusedInputError(GraphError):
    """An input of ``function`` is not needed by any output or update."""


class In:
    """A function input with options: ``In(x, name='x', value=0.5)`` gives a default.

    Parameters
    ----------
    variable : Variable
    name : str, optional
        Keyword name for calls (defaults to the variable's name).
    value : optional
        Default used when the call omits this input.
    borrow, mutable : bool
        Accepted for Theano compatibility (inputs are never modified by minigraph).
    """

    def __init__(self, variable, name=None, value=None, borrow=False, mutable=False,
                 strict=False, allow_downcast=None, implicit=False):
        if not isinstance(variable, Variable):
            raise InputTypeError(f"In() needs a symbolic variable, got "
                                 f"{type(variable).__name__}")
        self.variable = variable
        self.name = name or variable.name
        self.has_default = value is not None
        self.value = value
        self.strict = strict
        self.allow_downcast = allow_downcast


class Param(In):
    """Theano's older name for :class:`In`, with ``default`` for ``value``.

    >>> import minigraph as theano, minigraph.tensor as T
    >>> x, y = T.dscalars("x", "y")
    >>> f = theano.function([x, Param(y, default=10.0)], x + y)
    >>> float(f(1.0)), float(f(1.0, 2.0))
    (11.0, 3.0)
    """

    def __init__(self, variable, default=None, name=None, mutable=False, strict=False,
                 allow_downcast=None, implicit=None):
        super().__init__(variable, name=name, value=default, mutable=mutable, strict=strict,
                         allow_downcast=allow_downcast, implicit=bool(implicit))


def _as_in(x):
    return x if isinstance(x, In) else In(x)


class Function:
    """A compiled function; call it with values for its inputs (positional or keyword)."""

    def __init__(self, ins, outputs, single, updates, fgraph, linked, mode, name,
                 allow_input_downcast, profile):
        self.input_specs = ins
        self.maker = self
        self.outputs = outputs
        self._single = single
        self._update_targets = [s for s, _ in updates]
        self._containers = [s.container for s, _ in updates]
        self.fgraph = fgraph
        self._linked = linked
        # where the call's big arrays go: kept memory laid out from an earlier call's
        # lifetimes (kernels/memplan.py)
        self._memplan = memplan.MemoryPlan()
        self._debug_ref = None
        self._run = linked.run
        self.mode = mode
        self.name = name
        self._downcast = allow_input_downcast
        self.profile = profile
        self._names = {spec.name: i for i, spec in enumerate(ins) if spec.name}
        self._fast_types = [_fast_check(spec.variable.type) for spec in ins]
        # (dtype, ndim, NumPy scalar accepted) of inputs of no static size, else None
        self._fast_inputs = [None if f is None or f[2] is not None else
                             (f[0], f[1], f[1] == 0 and not spec.strict)
                             for f, spec in zip(self._fast_types, ins)]
        # values that would otherwise be shared by two owners (an input or shared buffer and
        # the caller, an output and a shared variable, two shared variables) are copied
        outs, upd = fgraph.outputs[:len(outputs)], fgraph.outputs[len(outputs):]
        self._copy_out = [_aliases_leaf(o) or o in upd or outs.index(o) != k
                          for k, o in enumerate(outs)]
        self._copy_upd = [_aliases_leaf(u) or upd.index(u) != k for k, u in enumerate(upd)]
        self.trust_input = False

    @property
    def source(self):
        """The generated Python code this function runs."""
        return self._linked.source

    def _convert(self, args, kwargs):
        specs = self.input_specs
        n = len(specs)
        if len(args) > n:
            raise InputTypeError(f"{self._what()} takes {n} inputs "
                                 f"({', '.join(self._input_names())}), got {len(args)}")
        values = list(args) + [_MISSING] * (n - len(args))
        for key, val in kwargs.items():
            if key not in self._names:
                raise InputTypeError(f"{self._what()} has no input named {key!r}; inputs: "
                                     f"{', '.join(self._input_names())}")
            i = self._names[key]
            if values[i] is not _MISSING:
                raise InputTypeError(f"{self._what()}: input {key!r} given twice")
            values[i] = val
        for i, v in enumerate(values):
            spec = specs[i]
            if v is _MISSING:
                if not spec.has_default:
                    missing = [self._input_names()[j] for j, w in enumerate(values)
                               if w is _MISSING and not specs[j].has_default]
                    raise InputTypeError(
                        f"{self._what()} is missing input(s) {', '.join(missing)} "
                        f"(it takes {n}: {', '.join(self._input_names())})")
                v = spec.value
            values[i] = self._convert_one(i, v)
        return values

    def _convert_positional(self, args):
        """``_convert`` of a call giving every input by position: what passes the fast
        checks (an array of the input's dtype and rank, or a NumPy scalar of a 0-d input's
        dtype) is taken without the per-input lookups of the general path."""
        values = list(args)
        ndarray, generic = np.ndarray, np.generic
        for i, fast in enumerate(self._fast_inputs):
            v = values[i]
            if fast is not None:
                if type(v) is ndarray:
                    if v.dtype == fast[0] and v.ndim == fast[1]:
                        continue
                elif fast[2] and isinstance(v, generic) and v.dtype == fast[0]:
                    values[i] = np.asarray(v)  # what filter makes of it
                    continue
            values[i] = self._convert_one(i, v)
        return values

    def _convert_one(self, i, v):
        spec = self.input_specs[i]
        fast = self._fast_types[i]
        if fast is not None and fast[2] is None:
            if type(v) is np.ndarray:
                if v.dtype == fast[0] and v.ndim == fast[1]:
                    return v
            elif fast[1] == 0 and isinstance(v, np.generic) and v.dtype == fast[0] \
                    and not spec.strict:  # (strict inputs refuse a NumPy scalar)
                return np.asarray(v)  # what filter makes of it
        t = spec.variable.type
        if isinstance(t, TensorType):
            downcast = spec.allow_downcast if spec.allow_downcast is not None \
                else self._downcast
            what = f"input {i} ({spec.name or 'unnamed'}) of {self._what()}"
            v = t.filter(v, strict=spec.strict, allow_downcast=downcast, what=what)
        return v

    def __call__(self, *args, **kwargs):
        if self.trust_input:
            values = list(args)
        elif not kwargs and len(args) == len(self._fast_inputs):
            values = self._convert_positional(args)
        else:
            values = self._convert(args, kwargs)
        t0 = time.perf_counter() if self.profile is not None else 0.0
        local = memplan.LOCAL
        plan = self._memplan if local.plan is None else None
        if plan is not None:
            local.plan = plan
            plan.begin()
        try:
            outs, new_values = self._run(*values)
        except Exception as e:  # point at the node and the user's line
            if plan is not None:
                local.plan = None
                plan.end(failed=True)
                plan = None
            node = failing_node(self._linked, sys.exc_info()[2])
            if node is None:
                raise
            raise _with_context(e, node, self._what()) from None
        if plan is not None:
            local.plan = None
            plan.end()
        if self._debug_ref is not None:
            compare(self, values, outs, new_values)
        for c, v, cp in zip(self._containers, new_values, self._copy_upd):
            c.value = v.copy() if cp and isinstance(v, np.ndarray) else v
        if self.profile is not None:
            self.profile.record_call(time.perf_counter() - t0)
        outs = [o.copy() if cp and isinstance(o, np.ndarray) else o
                for o, cp in zip(outs, self._copy_out)]
        if self._single:
            return outs[0]
        return outs

    def _what(self):
        return f"function {self.name!r}" if self.name else "the function"

    def _input_names(self):
        return [s.name or f"<input {i}>" for i, s in enumerate(self.input_specs)]

    def copy(self, share_memory=False, swap=None, delete_updates=False, name=None,
              profile=None):
        """A new function computing the same graph (Theano's ``Function.copy``).

        Parameters
        ----------
        share_memory : bool
            Accepted for Theano compatibility: minigraph functions keep no intermediate
            storage between calls, so there is nothing to share or copy.
        swap : dict, optional
            ``{old shared variable: new shared variable}``: the copy reads and updates the
            new ones (of the same type); the original function and graph are unchanged.
        delete_updates : bool
            The copy applies no updates (default updates included).
        name : str, optional
            Defaults to the original name + ``' copy'``.
        profile : bool, optional
            Defaults to whether the original is profiled.

        >>> import minigraph as theano, minigraph.tensor as T
        >>> state, inc = theano.shared(0), T.iscalar("inc")
        >>> acc = theano.function([inc], state, updates=[(state, state + inc)])
        >>> new_state = theano.shared(0)
        >>> new_acc = acc.copy(swap={state: new_state})
        >>> _ = new_acc(100); int(new_state.get_value()), int(state.get_value())
        (100, 0)
        """
        swap = dict(swap or {})
        for old, new in swap.items():
            if old not in self._update_targets and old not in ancestors(self.original_outputs):
                raise GraphError(f"Function.copy: swap key {old} is not a shared variable "
                                 f"of {self._what()}")
            if not isinstance(new, SharedVariable) or new.type != old.type:
                raise GraphError(f"Function.copy: {old.describe()} ({old.type}) can only be "
                                 f"swapped for a shared variable of the same type, got "
                                 f"{new!r} ({getattr(new, 'type', type(new).__name__)})")
        roots = clone_replace(self.original_outputs, swap) if swap else self.original_outputs
        n_out = len(self.outputs)
        outputs = roots[0] if self._single else roots[:n_out]
        updates = [] if delete_updates else [
            (swap.get(t, t), v) for t, v in zip(self._update_targets, roots[n_out:])]
        if name is None:
            name = f"{self.name} copy" if self.name else None
        profile = self.profile is not None if profile is None else profile
        return function(list(self.input_specs), outputs, updates=updates, mode=self.mode,
                        on_unused_input="ignore", allow_input_downcast=self._downcast,
                        no_default_updates=True, name=name, profile=profile)

    def __repr__(self):
        return f"<minigraph Function {self.name or ''} ({len(self._linked.order)} nodes)>"

    def _repr_svg_(self):  # notebooks display the graph that runs
        return repr_svg(self)


_MISSING = object()


def _fast_check(t):
    if isinstance(t, TensorType):
        return (np.dtype(t.dtype), t.ndim, None if all(s is None for s in t.shape) else t.shape)
    return None


def _aliases_leaf(var):
    """True when ``var``'s value may be (a view of) an input, shared value or constant."""
    while True:
        if var.owner is None:
            return True
        vm = getattr(var.owner.op, "view_map", {})
        src = vm.get(var.index)
        if not src:
            return False
        var = var.owner.inputs[src[0]]


def _with_context(e, node, what):
    msg = f"{e}" if node.trace in str(e) else f"{e}\n  while computing {node.op} in {what}, " \
                                                f"node created at {node.trace}"
    try:
        new = type(e)(msg)
    except Exception:
        new = RuntimeError(msg)
    new.node = node
    return new


def _collect_updates(updates, outputs, no_default_updates):
    pairs = OrderedDict()
    if updates is None:
        items = []
    elif isinstance(updates, dict):
        items = list(updates.items())
    else:
        items = list(updates)
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise GraphError(f"updates must be a dict or a list of (shared variable, new value) "
                             f"pairs; got the item {item!r}")
        target, value = item
        if not isinstance(target, SharedVariable):
            raise GraphError(f"updates: {target} is not a shared variable (only shared "
                             f"variables can be updated)")
        if target in pairs:
            raise GraphError(f"updates: shared variable {target.describe()} is updated twice")
        if isinstance(target.type, TensorType):
            value = T.as_tensor_variable(value)
            value = _match_update_type(target, value)
        pairs[target] = value
    if no_default_updates is not True:
        skip = set(no_default_updates or ())
        roots = list(outputs) + list(pairs.values())
        seen = set()
        while True:
            new = [v for v in ancestors(roots) if isinstance(v, SharedVariable)
                   and v.default_update is not None and v not in pairs and v not in skip
                   and v not in seen]
            if not new:
                break
            for v in new:
                seen.add(v)
                pairs[v] = v.default_update
                roots.append(v.default_update)
    return list(pairs.items())


def _match_update_type(target, value):
    tt, vt = target.type, value.type
    if vt == tt or tt.is_super(vt):
        return value
    if isinstance(vt, TensorType) and vt.ndim == tt.ndim and vt.dtype == tt.dtype:
        # a broadcastable dim where the target's is unknown (or vice versa): allowed, as the
        # value fits at run time; Theano asked for patternbroadcast here
        return specify_shape_like(value, tt)
    hint = ""
    if isinstance(vt, TensorType) and vt.dtype != tt.dtype and vt.ndim == tt.ndim:
        hint = (f"; cast it with T.cast(value, '{tt.dtype}') (often a float64 constant "
                f"or floatX mismatch)")
    raise GraphError(
        f"update for shared variable {target.describe()}: the new value has type "
        f"{vt.short() if hasattr(vt, 'short') else vt} but the variable is "
        f"{tt.short()}{hint}{where(value)}"
    )


def function(inputs, outputs=None, updates=None, givens=None, mode=None,
             on_unused_input="raise", allow_input_downcast=None, no_default_updates=False,
             name=None, profile=False):
    """Compile a function from symbolic ``inputs`` to ``outputs``, applying ``updates``.

    Parameters
    ----------
    inputs : list of Variable or In
    outputs : Variable, list of Variable, or None
        A single variable returns an array; a list returns a list.
    updates : dict or list of (SharedVariable, Variable)
        New values for shared variables, computed from the values *before* the call and
        assigned together after it.
    givens : dict or list of pairs
        Variables to substitute in the graph (e.g. ``{x: data[i * bs:(i + 1) * bs]}``).
    mode : str or Mode
        ``'FAST_RUN'`` (default), ``'FAST_COMPILE'``, ``'DEBUG'``, or a Mode / NanGuardMode.
    on_unused_input : {'raise', 'warn', 'ignore'}
    allow_input_downcast : bool or None
        Allow inputs of a wider dtype to be cast down (Python floats always are).
    no_default_updates : bool or list
        Skip the default updates of shared variables (e.g. random streams).
    name : str
    profile : bool
        Record per-node times (see ``f.profile.summary()``).

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> from minigraph import shared
    >>> x = T.dvector("x")
    >>> acc = shared(0.0, name="acc")
    >>> f = function([x], acc, updates={acc: acc + x.sum()})
    >>> float(f(np.ones(3))), float(acc.get_value())
    (0.0, 3.0)
    """
    t_start = time.perf_counter()
    if not isinstance(inputs, (list, tuple)):
        raise InputTypeError(f"function: inputs must be a list of variables, got "
                        f"{type(inputs).__name__} (write function([x], ...))")
    ins = [_as_in(i) for i in inputs]
    in_vars = [s.variable for s in ins]
    _check_inputs(in_vars)
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    out_list = [] if outputs is None else ([outputs] if single else list(outputs))
    out_list = [T.as_tensor_variable(o) if not isinstance(o, Variable) else o for o in out_list]
    pairs = _collect_updates(updates, out_list, no_default_updates)
    targets = [s for s, _ in pairs]
    roots = out_list + [v for _, v in pairs]
    if givens:
        roots = _apply_givens(roots, givens, in_vars)
    _check_unused(in_vars, roots, on_unused_input)
    _check_leaves(in_vars, roots)
    fgraph = FunctionGraph(in_vars, roots)
    mode_obj = get_mode(mode)
    stats = {}
    t_rw = time.perf_counter()
    for p in mode_obj.pipeline():
        p.apply(fgraph, exclude=mode_obj.exclude, stats=stats)
    t_rw = time.perf_counter() - t_rw
    check = _node_check(mode_obj)
    linked = link(fgraph, len(out_list), profile=bool(profile), node_check=check, name=name)
    prof = None
    if profile:
        prof = ProfileStats(name, linked, stats, t_rw, time.perf_counter() - t_start)
    updates_out = list(zip(targets, fgraph.outputs[len(out_list):]))
    fn = Function(ins, fgraph.outputs[: len(out_list)], single, updates_out, fgraph,
                  linked, mode_obj, name, allow_input_downcast, prof)
    fn.original_outputs = roots  # outputs then update values, before rewriting (pydotprint)
    if mode_obj.check == "debug":
        fn._debug_ref = link_reference(mode_obj, in_vars, roots, len(out_list), name)
    return fn


def _check_inputs(in_vars):
    seen = set()
    for v in in_vars:
        if isinstance(v, Constant):
            raise GraphError(f"function: input {v} is a constant; inputs must be symbolic "
                             f"variables")
        if isinstance(v, SharedVariable):
            raise GraphError(f"function: {v.describe()} is a shared variable; shared "
                             f"variables are implicit inputs, don't list them")
        if v.owner is not None:
            raise GraphError(f"function: input {v.describe()} is computed by {v.owner.op}; "
                             f"inputs must be leaf variables (use givens to substitute)")
        if v in seen:
            raise GraphError(f"function: input {v.describe()} is listed twice")
        seen.add(v)


def _apply_givens(roots, givens, in_vars):
    items = list(givens.items()) if isinstance(givens, dict) else list(givens)
    repl = {}
    for old, new in items:
        if not isinstance(old, Variable):
            raise GraphError(f"givens: key {old!r} is not a symbolic variable")
        new = T.as_tensor_variable(new) if isinstance(old.type, TensorType) else new
        if isinstance(old.type, TensorType) and (
            new.type.dtype != old.type.dtype or new.type.ndim != old.type.ndim
        ):
            raise GraphError(f"givens: {old.describe()} ({old.type.short()}) cannot be replaced "
                             f"by {new.describe()} ({new.type.short()}): dtype and ndim must "
                             f"match{where(new)}")
        repl[old] = new
    return clone_replace(roots, repl)


def _check_unused(in_vars, roots, on_unused_input):
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(with_user_line(f"on_unused_input must be 'raise', 'warn' or 'ignore', "
                                        f"got {on_unused_input!r}"))
    if on_unused_input == "ignore":
        return
    used = set(ancestors(roots))
    unused = [v for v in in_vars if v not in used]
    if unused:
        names = ", ".join(v.describe() for v in unused)
        msg = (f"function: input(s) {names} are not used to compute the outputs or updates; "
               f"remove them or pass on_unused_input='ignore'")
        if on_unused_input == "raise":
            raise UnusedInputError(msg)
        warnings.warn(msg, stacklevel=3)


def _check_leaves(in_vars, roots):
    given = set(in_vars)
    for v in graph_inputs(roots, blockers=in_vars):
        if v in given or isinstance(v, (Constant, SharedVariable)):
            continue
        raise GraphError(
            f"function: the outputs depend on {v.describe()} ({v.type}), which is not among "
            f"the inputs; add it to the inputs list or give it a value with givens"
        )


def _node_check(mode):
    if mode.check is None:
        return None
    return make_node_check(mode)
