"""The code generator: Numba source from graphs, for loops and elementwise regions.

* :mod:`.scanloop`: a whole ``scan`` as one compiled function (``POLICY``, ``loop_state``);
* :mod:`.templates`: the code of each op inside such a loop (one function per op class);
* :mod:`.emitter`: values as views of arrays, buffers, and the lines being written;
* :mod:`.blas`: NumPy's OpenBLAS ``gemm`` / ``gemv`` called by symbol from Numba;
* :mod:`.runtime`: small Numba helpers the generated code calls;
* :mod:`.cache`: generated modules on disk, with Numba's cache.

Elementwise regions outside loops are fused kernels (``minigraph/tensor/fused_kernels.py``);
both write their scalar code from the same table (``minigraph/tensor/scalar.py``) through
``fused_kernels._body``. ``docs/codegen.md`` describes the design.
"""
