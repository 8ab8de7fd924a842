"""The layers of minigraph, read from the sources (``docs/architecture.md``, "Layers").

``graph/`` is the bottom layer: it may not import ``tensor/`` or ``scan/`` at all, nor
``compile/`` at module level (``Variable.eval`` compiles a function, so it imports
``compile`` when called). Nothing in ``minigraph`` imports a private module of ``kernels``.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minigraph"


def _imports(path):
    """``(module imported, line, at module level?)`` for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found.extend((n, node.lineno, id(node) in top) for n in names)
    return found


def _under(name, package):
    return name == package or name.startswith(package + ".")


def _sources(folder):
    return sorted((PACKAGE / folder).rglob("*.py")) if folder else sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _sources("graph"), ids=lambda p: p.name)
def test_graph_imports_nothing_from_the_layers_above(path):
    bad = [f"{path.name}:{line}: {name}" for name, line, top in _imports(path)
           if _under(name, "minigraph.tensor") or _under(name, "minigraph.scan")
           or (top and _under(name, "minigraph.compile"))]
    assert not bad, f"graph/ must not import tensor/ or scan/ (or compile/ at module level): {bad}"


def test_minigraph_uses_only_the_public_face_of_kernels():
    bad = [f"{path.relative_to(ROOT)}:{line}: {name}" for path in _sources(None)
           for name, line, _ in _imports(path)
           if _under(name, "kernels") and any(p.startswith("_") for p in name.split(".")[1:])]
    assert not bad, f"minigraph imports private kernels modules: {bad}"


def test_compile_makes_shared_tensors_without_the_tensor_layer():
    bad = [name for name, _, _ in _imports(PACKAGE / "compile" / "sharedvalue.py")
           if _under(name, "minigraph.tensor")]
    assert not bad


def test_the_reader_sees_relative_and_nested_imports(tmp_path):
    # the checks above are only as good as _imports: it must resolve `from ..tensor import x`
    # and see imports inside functions
    pkg = tmp_path / "minigraph" / "graph"
    pkg.mkdir(parents=True)
    src = pkg / "probe.py"
    src.write_text("from ..tensor import var\n\ndef f():\n    import minigraph.scan.op\n")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        found = _imports(src)
    finally:
        ROOT = old
    assert ("minigraph.tensor.var", 1, True) in found
    assert ("minigraph.scan.op", 4, False) in found
