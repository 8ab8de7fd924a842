"""Compile every CUDA kernel to sm_90 PTX on the CPU, outside the simulator.

The simulator does no type checking, so code that passes the simulated tests can still fail
to compile for a GPU (``docs/kernels.md``, "What the simulator cannot catch").
``cuda.compile_ptx`` needs no GPU or driver, only NVVM and NVRTC
(``pip install "cuda-toolkit[nvvm,nvrtc]==13.*"``); without them this test skips.  It runs in
a subprocess because this pytest process may have the simulator enabled, and that is decided
once, at ``import numba``.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent(
    r"""
    import json, re, sys
    from types import SimpleNamespace

    import numpy as np
    import numba
    from numba import cuda

    assert not numba.config.ENABLE_CUDASIM, "the simulator must be off here"

    def probe(x):
        x[0] = 1.0

    try:
        cuda.compile_ptx(probe, (numba.float32[::1],), cc=(9, 0))
    except Exception as exc:  # missing NVVM / NVRTC shows up as various error types
        print(json.dumps({"skip": f"{type(exc).__name__}: {exc}"}))
        sys.exit(0)

    # Grid sync compiles through a device function that asks the driver for the compute
    # capability; there is no driver here, so answer for it (``docs/kernels.md``).
    import numba.cuda.dispatcher as dispatcher
    dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(9, 0))

    from kernels._cuda_tiles import build, shared_bytes, signatures
    from kernels.gru_cuda import default_tiles

    def callees(ptx):
        # "call.uni (retval0), name, (args);" spread over several lines
        return re.findall(r"\bcall(?:\.uni)?\s+(?:\([^)]*\)\s*,\s*)?([A-Za-z_$][\w$]*)", ptx)

    report = {"shared": {}}
    for dtype in (np.float32, np.float64):
        for B in (1, 16, 200):  # build() refuses tiles over the shared-memory limit
            tiles = default_tiles(B, dtype)
            build(dtype, tiles)
            report["shared"][f"{np.dtype(dtype).name}:B{B}"] = shared_bytes(dtype, tiles)
    for dtype, B in ((np.float32, 200), (np.float64, 1)):  # the GPU's default tile shapes
        k = build(dtype, default_tiles(B, dtype))
        for name, sig in signatures(dtype).items():
            ptx, _ = cuda.compile_ptx(getattr(k, name).py_func, sig, cc=(9, 0))
            report[f"{np.dtype(dtype).name}:{name}"] = {
                "f64_ops": sum(".f64" in line for line in ptx.splitlines()
                               if not line.lstrip().startswith("//")),
                "grid_sync": "cudaCGSynchronize" in ptx,
                "local_memory": "ld.local" in ptx or "st.local" in ptx,
                "callees": sorted(set(callees(ptx))),
            }
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def ptx_report():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["MINIGRAPH_CUDA"] = "real"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if "skip" in report:
        pytest.skip(
            "NVVM/NVRTC not available (pip install 'cuda-toolkit[nvvm,nvrtc]==13.*'): "
            + report["skip"][:200]
        )
    return report


KERNEL_NAMES = ["fwd_step", "fwd_seq", "bwd_step", "bwd_seq", "atb"]


@pytest.mark.parametrize("name", KERNEL_NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_compiles_to_ptx(ptx_report, dtype, name):
    info = ptx_report[f"{dtype}:{name}"]
    if dtype == "float32":
        assert info["f64_ops"] == 0, "float32 kernel does float64 math (untyped constant?)"
    # helpers are inlined: the only calls left are the grid barrier's in persistent kernels
    assert info["grid_sync"] == name.endswith("_seq")
    assert all(c.startswith("cudaCG") for c in info["callees"]), info["callees"]
    assert bool(info["callees"]) == name.endswith("_seq")
    assert not info["local_memory"], "accumulators spilled to local memory"


def test_default_gpu_tiles_fit_in_shared_memory(ptx_report):
    from kernels._cuda_tiles import MAX_SHARED_BYTES

    assert len(ptx_report["shared"]) == 6
    for key, used in ptx_report["shared"].items():
        assert 0 < used <= MAX_SHARED_BYTES, key
