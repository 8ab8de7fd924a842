"""In-place and buffer reuse: the last two passes of the pipeline, after fusion.

* ``inplace``: an elementwise node (``Elemwise`` of a NumPy ufunc, or ``FusedElemwise``)
  writes its output into an input that dies there: an intermediate value (never a function
  input, shared variable, constant or a view of one) with the output's dtype and
  broadcast pattern, whose other readers, and the readers of every view of the same buffer,
  all run earlier (``_dies_here``). The
  decision reads the schedule (``fgraph.toposort()``, which the linker uses unchanged), so
  this pass must stay last; an op returning memory it keeps must declare ``view_map``.
  Other ops opt in by declaring ``inplace_inputs`` (input indices) and ``inplace_version()``
  (the op that may overwrite them, declaring ``destroy_map``); they are switched when every
  one of those inputs dies at them (``GRUSequenceGrad`` writes ``dgx`` over the saved gates).
* ``reuse_buffers``: a ``FusedElemwise`` whose results die within the call takes its output
  buffers from the workspace shared with the GRU kernels (``kernels.workspace.SHARED``, see
  ``tensor/buffers.py``), which hands an array out again only
  when nothing else references it (checked with the reference count), so arrays the user, a
  shared variable, a view or a later call still holds are never overwritten, while
  intermediates and dropped results stop costing an allocation (and page faults) a call.
"""

import numpy as np

from minigraph.graph.rewriting import GraphPass

from .elemwise import Elemwise
from .fusion import FusedElemwise


def _dies_here(v, node, clients, pos):
    """True when ``node`` is the last reader of ``v``'s buffer in the schedule.

    ``v`` may be a view (``view_map``) of another node's output: then every alias of that
    buffer (the buffer and the views of it, transitively) must be read by ``node`` or before
    it, and none may be an output or be read by an op that destroys inputs.
    """
    root = v
    while root.owner is not None and root.index in getattr(root.owner.op, "view_map", {}):
        root = root.owner.inputs[root.owner.op.view_map[root.index][0]]
    if root.owner is None:
        return False  # a leaf (input, shared, constant) or a view of one
    aliases, todo = {root}, [root]
    while todo:
        for client, _ in clients.get(todo.pop(), []):
            if client == "output":
                return False
            if client is not node and (pos[client] > pos[node] or client.op.destroy_map):
                return False  # read later, or already overwritten by another node
            for k, ins in getattr(client.op, "view_map", {}).items():
                out = client.outputs[k]
                if any(client.inputs[j] in aliases for j in ins) and out not in aliases:
                    aliases.add(out)
                    todo.append(out)
    # reading another alias while writing this one (x + x.T) would read overwritten elements
    return all(i is v or i not in aliases for i in node.inputs)


def _victim(node, clients, pos):
    """Index of the input ``node`` may overwrite (a tuple for ``inplace_inputs`` ops), or
    None."""
    op = node.op
    wanted = getattr(op, "inplace_inputs", None)
    if wanted is not None:
        if op.inplace_version() is None or len({id(node.inputs[j]) for j in wanted}) \
                < len(wanted):
            return None  # already in place, or one buffer passed twice
        ok = all(_dies_here(node.inputs[j], node, clients, pos) for j in wanted)
        return tuple(wanted) if ok else None
    if isinstance(op, Elemwise):
        # Elemwise writes in place through the ufunc's ``out=``; other table rows cannot
        if op.inplace is not None or not isinstance(op.scalar_op.np_fn, np.ufunc):
            return None
    elif not isinstance(op, FusedElemwise) or op.inplace is not None:
        return None
    out = node.outputs[0]
    for j, v in enumerate(node.inputs):
        if getattr(v.type, "dtype", None) == out.dtype and \
                v.broadcastable == out.broadcastable and _dies_here(v, node, clients, pos):
            return j
    return None


def _rebuild(fgraph, node, op, reason):
    new = op.make_node(*node.inputs)
    new.trace = node.trace
    for old, var in zip(node.outputs, new.outputs):
        var.name = old.name
        fgraph.replace(old, var, reason=reason)


def inplace_elemwise(fgraph):
    """Make elementwise nodes overwrite an input that dies at them; returns the count."""
    fgraph.prune()  # exact client lists
    order = fgraph.toposort()
    pos = {node: i for i, node in enumerate(order)}
    plans = [(node, _victim(node, fgraph.clients, pos)) for node in order]
    plans = [(node, j) for node, j in plans if j is not None]
    for node, j in plans:  # decided on the unchanged graph: each buffer dies at one node
        op = node.op
        if isinstance(j, tuple):
            new_op = op.inplace_version()
        elif isinstance(op, Elemwise):
            new_op = Elemwise(op.scalar_op, inplace=j)
        else:
            new_op = FusedElemwise(op.program, inplace=j, reuse=op.reuse)
        _rebuild(fgraph, node, new_op, "inplace")
    if plans:
        fgraph.prune()
    return len(plans)


def reuse_buffers(fgraph):
    """Let every ``FusedElemwise`` whose results die within the call draw its output buffers
    from the workspace; returns the count.

    Results the call hands out (function outputs, new values of shared variables, such as
    the optimizer's) live on after it; in the workspace each would hold a kept block until the
    next call replaced it, and the blocks freed then would sit idle through the next forward
    and backward pass (15 MB at the peak of Gorner's train step), so they are fresh arrays.
    """
    escaping = set(fgraph.outputs)
    nodes = [n for n in fgraph.toposort() if isinstance(n.op, FusedElemwise) and not n.op.reuse
             and escaping.isdisjoint(n.outputs)]
    for node in nodes:
        _rebuild(fgraph, node, FusedElemwise(node.op.program, node.op.inplace, True),
                 "reuse_buffers")
    if nodes:
        fgraph.prune()
    return len(nodes)


INPLACE = GraphPass("inplace", inplace_elemwise)
REUSE_BUFFERS = GraphPass("reuse_buffers", reuse_buffers)

