"""``benchmarks/scan_overhead.py``: its PyTensor worker says why when it cannot measure."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks",
                      "scan_overhead.py")


@pytest.mark.skipif(importlib.util.find_spec("pytensor") is not None,
                    reason="PyTensor is installed here")
def test_pytensor_worker_reports_why_without_pytensor():
    done = subprocess.run([sys.executable, SCRIPT, "--pytensor-worker"], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout.splitlines()[-1])
    assert set(info) == {"failed"} and "pytensor" in info["failed"], info
