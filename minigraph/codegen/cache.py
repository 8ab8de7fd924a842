"""Generated modules on disk: written once under the kernel cache, jitted with Numba's cache.

The source is the cache key (its hash names the file), so a changed generator writes a new
file; Numba's own cache, next to it, then keeps the machine code, and a later process loads
a loop in milliseconds instead of compiling it. Generated sources name the versions of what
they call that Numba's cache cannot see (``kernels/vecmath.py``, the BLAS symbols).
"""

import hashlib
import importlib.util
import os
import sys


def import_source(source, prefix, folder):
    """``(module, cacheable)``: the module of ``source``, written once as
    ``folder/<prefix>_<hash>.py`` and imported from there (``cacheable``: Numba may keep
    its machine code beside it); from memory when the folder cannot be written."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:20]
    name = f"{prefix}_{digest}"
    path = os.path.join(folder, name + ".py")
    try:
        if not os.path.exists(path) or _read(path) != source:  # absent, or not ours
            os.makedirs(folder, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(source)
            os.replace(tmp, path)  # atomic: a concurrent process sees all of it or nothing
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        return module, True
    except OSError:  # read-only home: compile from memory, without Numba's disk cache
        module = type(sys)(name)
        exec(compile(source, f"<{name}>", "exec"), module.__dict__)
        return module, False


def load(source, prefix, function, parallel=False):
    """The Numba dispatcher of ``function`` in the module ``source`` (not yet compiled),
    kept under the kernel cache's ``loops`` folder; ``parallel``: its ``numba.prange``
    loops run on Numba's threads."""
    import numba

    from minigraph.tensor.fused_kernels import cache_dir

    folder = os.path.join(os.path.dirname(cache_dir()), "loops")
    module, cache = import_source(source, prefix, folder)
    return numba.njit(error_model="numpy", cache=cache, nogil=True,
                      parallel=parallel)(getattr(module, function))


def _read(path):
    with open(path) as f:
        return f.read()
