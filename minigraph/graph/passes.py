"""Op-agnostic passes: merge (common-subexpression elimination) and constant folding.

Both rely only on what every op provides: ``__props__`` equality (merge) and ``perform``
(folding), so no op needs code of its own for them; a folded value becomes a constant through
its type (``Type.make_constant``).
"""

import numpy as np

from .basic import Constant
from .rewriting import GraphPass


def merge(fgraph):
    """Replace duplicate constants and duplicate nodes (same op, same inputs) by one copy."""
    count = 0
    seen_const = {}
    for v in list(fgraph.variables()):
        if isinstance(v, Constant) and v in fgraph.clients:
            key = _const_key(v)
            if key is None:
                continue
            if key in seen_const and seen_const[key] is not v:
                fgraph.replace(v, seen_const[key], reason="merge")
                count += 1
            else:
                seen_const[key] = v
    seen = {}
    for node in fgraph.toposort():
        if getattr(node.op, "nondeterministic", False):
            continue  # two random draws are two draws
        try:
            key = (node.op, tuple(node.inputs))
            hash(key)
        except TypeError:
            continue
        other = seen.get(key)
        if other is None:
            seen[key] = node
            continue
        if any(a.type != b.type for a, b in zip(node.outputs, other.outputs)):
            continue
        for old, new in zip(node.outputs, other.outputs):
            fgraph.replace(old, new, reason="merge")
        count += 1
    if count:
        fgraph.prune()
    return count


def _const_key(c):
    data = c.data
    if isinstance(data, np.ndarray):
        if data.size > 64:
            return None  # hashing big arrays costs more than merging them saves
        return (c.type, data.shape, data.tobytes())
    try:
        return (c.type, type(data), data)
    except TypeError:
        return None


def constant_folding(fgraph):
    """Evaluate nodes whose inputs are all constants, once, at compile time."""
    count = 0
    for node in fgraph.toposort():
        if not node.inputs or not all(isinstance(i, Constant) for i in node.inputs):
            continue
        if getattr(node.op, "nondeterministic", False) or getattr(node.op, "no_fold", False):
            continue
        if any(o not in fgraph.clients for o in node.outputs):
            continue
        storage = [[None] for _ in node.outputs]
        node.op.perform(node, [i.data for i in node.inputs], storage)
        for out, cell in zip(node.outputs, storage):
            if getattr(cell[0], "size", 0) > 1_000_000:
                break  # don't bake huge arrays into the function
            fgraph.replace(out, out.type.make_constant(cell[0]), reason="constant_folding")
            count += 1
    if count:
        fgraph.prune()
    return count


MERGE = GraphPass("merge", merge)
CONSTANT_FOLDING = GraphPass("constant_folding", constant_folding)
