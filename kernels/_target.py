"""Decide, before Numba is imported, whether CUDA code runs on a real GPU or in the simulator.

Numba reads ``NUMBA_ENABLE_CUDASIM`` once, when ``numba`` itself is first imported; setting it
later gives a mixed, silently wrong state (``docs/kernels.md``).  So the choice has to be made by
code that imports neither NumPy nor Numba: this module uses only the standard library.

``MINIGRAPH_CUDA`` selects the mode:

* ``auto`` (default): the simulator if no real GPU is detected (no ``/dev/nvidiactl`` and no
  ``libcuda``) or ``NUMBA_ENABLE_CUDASIM=1`` is already set, otherwise the real target;
* ``sim``: always the simulator;
* ``real``: never the simulator (CUDA code needs a GPU);
* ``off``: CUDA is not used at all; the ``cuda`` backend reports itself unavailable.

The simulator only ever makes the ``cuda`` backend *runnable* when a caller names it;
``kernels.select_backend`` never picks it by default.
"""

import ctypes.util
import os
import sys
import warnings

MODES = ("auto", "sim", "real", "off")

_mode = None  # the resolved mode ("sim" | "real" | "off") once configure() ran


def gpu_probably_present():
    """Guess, without importing Numba, whether this machine has an NVIDIA driver.

    Returns
    -------
    bool
        True when ``/dev/nvidiactl`` exists or the CUDA driver library can be found.
    """
    return os.path.exists("/dev/nvidiactl") or ctypes.util.find_library("cuda") is not None


def configure(mode=None):
    """Set ``NUMBA_ENABLE_CUDASIM`` for this process from ``MINIGRAPH_CUDA``.

    Call it before anything imports ``numba`` (``tests/conftest.py`` does so first thing).
    Calling it again is harmless; calling it after ``numba`` was imported cannot change the
    target any more, so a conflicting request then only warns.

    Parameters
    ----------
    mode : {"auto", "sim", "real", "off"}, optional
        Overrides the ``MINIGRAPH_CUDA`` environment variable.

    Returns
    -------
    str
        The resolved mode: ``"sim"``, ``"real"`` or ``"off"``.

    Examples
    --------
    >>> from kernels import _target
    >>> _target.mode() in ("sim", "real", "off")  # configure() ran on first use
    True
    """
    global _mode
    requested = (mode or os.environ.get("MINIGRAPH_CUDA", "auto")).strip().lower()
    if requested not in MODES:
        raise ValueError(
            f"MINIGRAPH_CUDA={requested!r} is not valid; use one of {', '.join(MODES)}"
        )
    explicit = requested != "auto"
    if requested == "auto":
        user_sim = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
        requested = "sim" if user_sim or not gpu_probably_present() else "real"
    want_sim = requested == "sim"
    if "numba" in sys.modules:
        # Too late to switch: report what Numba actually uses (warn only if asked explicitly).
        active_sim = bool(sys.modules["numba"].config.ENABLE_CUDASIM)
        if active_sim != want_sim and requested != "off" and explicit:
            warnings.warn(
                "kernels._target.configure() called after numba was imported; the CUDA "
                f"target stays {'simulator' if active_sim else 'real'}",
                RuntimeWarning,
                stacklevel=2,
            )
        if active_sim != want_sim and requested != "off":
            requested = "sim" if active_sim else "real"
    elif want_sim:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    else:
        os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    _mode = requested
    return _mode


def mode():
    """Return the resolved CUDA mode, configuring from the environment if needed.

    Returns
    -------
    str
        ``"sim"``, ``"real"`` or ``"off"``.
    """
    if _mode is None:
        return configure()
    return _mode


def quiet_idle_threads():
    """Make idle OpenMP workers sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``).

    Numba's parallel kernels (the GRU epilogues, fused elementwise kernels) and OpenBLAS's
    GEMMs take turns on the same cores.  GNU OpenMP's workers, which run Numba's parfors, spin
    for a while after each parallel region, stealing a core from the GEMM that follows: with
    two threads on a 2-core machine the char-RNN's train step ran 2x slower than with one
    (2,747 against 5,470 characters/s on Gorner's configuration with the policy set).

    libgomp reads the variable once, when Numba first starts its threads, so this must run
    before that; it is called when ``kernels`` and ``minigraph`` are imported.  A value the
    user set (``OMP_WAIT_POLICY``), or an explicit ``NUMBA_THREADING_LAYER``, is left alone.

    Returns
    -------
    bool
        Whether this call set the policy.
    """
    if "OMP_WAIT_POLICY" in os.environ or "NUMBA_THREADING_LAYER" in os.environ:
        return False
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is not None and getattr(parallel, "_is_initialized", False):
        return False  # threads already started: too late to change their policy
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
