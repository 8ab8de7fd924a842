"""Backend selection, the dispatch table, the CUDA target setup and argument errors."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kernels

CUDA_MODE = kernels.cuda_available()  # "real", "sim" or None

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_python(code, **env):
    """Run ``code`` in a fresh interpreter (so numba's import-time config is its own);
    ``NAME=None`` removes a variable from its environment."""
    full_env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    full_env.update(env)
    full_env = {k: v for k, v in full_env.items() if v is not None}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=full_env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---- select_backend --------------------------------------------------------------------


def test_default_backend_is_cpu():
    assert kernels.select_backend() == "cpu"
    assert kernels.select_backend(device="cpu") == "cpu"


@pytest.mark.parametrize("name", ["reference", "cpu"])
def test_explicit_backend_wins(name):
    assert kernels.select_backend(name, device="auto") == name


def test_bad_names_list_valid_ones():
    with pytest.raises(ValueError, match="reference, cpu, cuda"):
        kernels.select_backend("numpy")
    with pytest.raises(ValueError, match="cpu, cuda, auto"):
        kernels.select_backend(device="gpu")
    with pytest.raises(ValueError, match="gru_step_fwd"):
        kernels.get_kernel("gru_step", "cpu")
    with pytest.raises(ValueError, match="reference, cpu, cuda"):
        kernels.get_kernel("gru_step_fwd", "tpu")


@pytest.mark.skipif(CUDA_MODE == "real", reason="rules for machines without a real GPU")
def test_simulator_is_never_the_default():
    assert kernels.select_backend(device="auto") == "cpu"
    with pytest.raises(RuntimeError, match="real GPU"):
        kernels.select_backend(device="cuda")


@pytest.mark.skipif(CUDA_MODE != "sim", reason="needs the simulator")
def test_cuda_named_explicitly_runs_in_the_simulator():
    assert kernels.select_backend("cuda") == "cuda"


@pytest.mark.skipif(CUDA_MODE != "real", reason="needs a real GPU")
def test_real_gpu_is_picked_automatically():
    assert kernels.select_backend(device="auto") == "cuda"
    assert kernels.select_backend(device="cuda") == "cuda"


def test_every_kernel_has_every_backend():
    for name in kernels.KERNELS:
        for backend in kernels.BACKENDS:
            if backend == "cuda" and CUDA_MODE is None:
                continue
            assert callable(kernels.get_kernel(name, backend))


# ---- CUDA target -----------------------------------------------------------------------


def test_numba_cuda_is_the_nvidia_package():
    from numba import cuda

    assert cuda.implementation == "NVIDIA"


def test_import_kernels_imports_neither_numpy_nor_numba():
    out = _run_python(
        """
        import sys, kernels
        print(sorted(m for m in ("numpy", "numba", "numba.cuda") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_configure_sim_and_off_modes():
    out = _run_python(
        """
        import kernels, kernels._target as t
        print(t.configure())
        import numba
        auto = kernels.select_backend(device="auto")
        print(numba.config.ENABLE_CUDASIM, kernels.cuda_available(), auto)
        """,
        MINIGRAPH_CUDA="sim",
    )
    assert out.split() == ["sim", "1", "sim", "cpu"]
    out = _run_python(
        """
        import kernels, kernels._target as t
        print(t.configure(), kernels.cuda_available())
        try:
            kernels.select_backend("cuda")
        except RuntimeError as e:
            print("RuntimeError", "simulator" in str(e))
        """,
        MINIGRAPH_CUDA="off",
    )
    assert out.split() == ["off", "None", "RuntimeError", "True"]


def test_configure_rejects_bad_mode():
    from kernels import _target

    with pytest.raises(ValueError, match="auto, sim, real, off"):
        _target.configure("gpu")


# ---- argument errors -------------------------------------------------------------------

B, H, T = 2, 3, 4


def _good(dtype=np.float64):
    z = lambda *shape: np.zeros(shape, dtype)  # noqa: E731
    return {
        "gx": z(B, 3 * H), "h": z(B, H), "W_h": z(H, 3 * H), "b_h": z(3 * H), "dh": z(B, H),
        "saved": (z(B, 3 * H), z(B, H)), "gxs": z(T, B, 3 * H), "hs": z(T, B, H),
        "saved_seq": (z(T, B, 3 * H), z(T, B, H)),
    }  # fmt: skip


def _call(kernel, backend, **override):
    g = {**_good(), **override}
    args = {
        "gru_step_fwd": (g["gx"], g["h"], g["W_h"], g["b_h"]),
        "gru_step_bwd": (g["dh"], g["h"], g["W_h"], g["saved"]),
        "gru_seq_fwd": (g["gxs"], g["h"], g["W_h"], g["b_h"]),
        "gru_seq_bwd": (g["hs"], g["h"], g["hs"], g["W_h"], g["saved_seq"]),
    }[kernel]
    return kernels.get_kernel(kernel, backend)(*args)


f32 = np.float32
BAD_CALLS = [
    # (kernel, override, exception, message fragments)
    ("gru_step_fwd", {"gx": np.zeros((B, 3 * H + 1))}, ValueError, ["gx", "(2, 9)", "(2, 10)"]),
    ("gru_step_fwd", {"W_h": np.zeros((3 * H, H))}, ValueError, ["W_h", "(3, 9)", "(9, 3)"]),
    ("gru_step_fwd", {"b_h": np.zeros(H)}, ValueError, ["b_h", "(9,)", "(3,)"]),
    ("gru_step_fwd", {"h": np.zeros(H)}, ValueError, ["h must be 2-D", "(B, H)"]),
    ("gru_step_fwd", {"h": np.zeros((0, H)), "gx": np.zeros((0, 3 * H))}, ValueError, ["B"]),
    ("gru_step_fwd", {"gx": [[0.0] * 9] * 2}, TypeError, ["gx", "numpy.ndarray", "list"]),
    ("gru_step_fwd", {"h": np.zeros((B, H), int)}, TypeError, ["h", "float32 or float64"]),
    ("gru_step_fwd", {"W_h": np.zeros((H, 3 * H), f32)}, TypeError, ["mixed", "W_h", "float32"]),
    ("gru_step_bwd", {"saved": (np.zeros((B, H)),) * 4}, TypeError, ["saved", "pair"]),
    ("gru_step_bwd", {"dh": np.zeros((B + 1, H))}, ValueError, ["dh_new", "(2, 3)", "(3, 3)"]),
    ("gru_step_bwd", {"saved": (np.zeros((B, 3 * H)), np.zeros((B, 1)))}, ValueError,
     ["saved ghn", "(2, 3)", "(2, 1)"]),  # fmt: skip
    ("gru_step_bwd", {"saved": (np.zeros((B, H)), np.zeros((B, H)))}, ValueError,
     ["saved rzn", "(B, 3H)", "(2, 9)", "(2, 3)"]),  # fmt: skip
    ("gru_seq_fwd", {"gxs": np.zeros((0, B, 3 * H))}, ValueError, ["T must be at least 1"]),
    ("gru_seq_fwd", {"gxs": np.zeros((B, 3 * H))}, ValueError, ["gx must be 3-D", "(T, B, 3H)"]),
    ("gru_seq_fwd", {"gxs": np.zeros((T, B + 1, 3 * H))}, ValueError, ["gx", "(4, 2, 9)"]),
    ("gru_seq_bwd", {"saved_seq": (np.zeros((T, B, 3 * H), f32), np.zeros((T, B, H), f32))},
     TypeError, ["mixed", "saved rzn"]),  # fmt: skip
    ("gru_seq_bwd", {"h": np.zeros((B, H + 1))}, ValueError, ["h0", "(2, 3)", "(2, 4)"]),
]


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("kernel,override,exc,fragments", BAD_CALLS)
def test_bad_arguments_raise_clear_errors(backend, kernel, override, exc, fragments):
    with pytest.raises(exc) as info:
        _call(kernel, backend, **override)
    message = str(info.value)
    assert message.startswith(kernel), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_good_arguments_pass_the_checks():
    for kernel in kernels.KERNELS:
        _call(kernel, "reference")


def test_wrappers_take_backend_and_device_keywords():
    g = _good(np.float32)
    h, _ = kernels.gru_step_fwd(g["gx"], g["h"], g["W_h"], g["b_h"], device="cpu")
    assert h.dtype == np.float32
    with pytest.raises(ValueError, match="valid backends"):
        kernels.gru_seq_fwd(g["gxs"], g["h"], g["W_h"], g["b_h"], backend="fast")


def test_idle_openmp_threads_sleep_unless_the_user_chose():
    show = """
        import os, minigraph, numba
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # starts the thread pool
        print(os.environ.get("OMP_WAIT_POLICY"))
        """
    assert _run_python(show, OMP_WAIT_POLICY=None).split() == ["PASSIVE"]
    assert _run_python(show, OMP_WAIT_POLICY="active").split() == ["active"]
    assert _run_python(show, OMP_WAIT_POLICY=None,
                       NUMBA_THREADING_LAYER="workqueue").split() == ["None"]
    # once Numba's threads run, their policy is fixed: the call then changes nothing
    late = _run_python(
        """
        import os, numba
        numba.set_num_threads(1)
        from kernels import _target
        print(_target.quiet_idle_threads(), os.environ.get("OMP_WAIT_POLICY"))
        """,
        OMP_WAIT_POLICY=None,
    )
    assert late.split() == ["False", "None"]


def test_set_threads_clamps_to_numbas_pool_and_get_threads_reads_it():
    import numba

    before = kernels.get_threads()
    try:
        assert kernels.set_threads(1) == 1 and kernels.get_threads() == 1
        assert kernels.set_threads(10**6) == numba.config.NUMBA_NUM_THREADS
        assert kernels.set_threads(0) == 1  # at least one thread
    finally:
        kernels.set_threads(before)
    assert {"set_threads", "get_threads", "quiet_idle_threads"} <= set(kernels.__all__)
    from kernels.workspace import SHARED, Workspace

    assert isinstance(SHARED, Workspace)
