"""Every Theano program in tests/compat/programs/ runs unchanged under minigraph.compat.

Each program is a tutorial-style Theano script that checks its own results (training
lowers the loss, one step matches NumPy) and exits 0. Programs are discovered from the
folder, so adding a file adds a test.
"""

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAMS = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "programs", "*.py")))
TIMEOUT_S = 240


@pytest.mark.parametrize("path", PROGRAMS, ids=[os.path.basename(p) for p in PROGRAMS])
def test_program_runs_unchanged(path):
    env = {k: v for k, v in os.environ.items() if k not in ("MINIGRAPH_FLAGS", "THEANO_FLAGS")}
    done = subprocess.run([sys.executable, "-m", "minigraph.compat", path], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, f"{os.path.basename(path)} failed:\n{done.stdout[-3000:]}" \
                                 f"\n{done.stderr[-3000:]}"


def test_programs_folder_is_not_empty():
    assert PROGRAMS, "tests/compat/programs/ holds no program"
