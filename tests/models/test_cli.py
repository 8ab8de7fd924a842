"""Tests for models/charrnn/cli.py: train / generate / graph / demo through `main(argv)`, and
the contract for bad input: exit status 1, one line on stderr, no traceback, nothing lost.

The commands run in this process (`main` returns the exit status), on tiny models; one test
runs ``python -m models.charrnn --help`` as a real subprocess.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from models.charrnn import cli
from models.charrnn.checkpoint import load_checkpoint, save_checkpoint
from models.charrnn.train import SHAKESPEARE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--layers", "1", "--hidden", "16", "--batch", "4", "--seq-len", "8", "--no-progress",
        "--eval-every", "2", "--save-every", "2"]




@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text(open(SHAKESPEARE, encoding="utf-8").read(3000), encoding="utf-8")
    return str(path)


@pytest.fixture
def run_dir(tmp_path, corpus):
    out = str(tmp_path / "run")
    assert cli.main(["train", corpus, "--out", out, "--max-steps", "3", *TINY]) == 0
    return out


def run(capsys, *argv):
    capsys.readouterr()  # drop what came before (the printed seed)
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    lines = [line for line in err.splitlines() if line.startswith("minigraph-charrnn: error")]
    assert status == 1 and len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_generate_graph(capsys, run_dir, tmp_path, rng):
    seed = int(rng.integers(1000))
    args = ("generate", "--checkpoint", run_dir, "-n", 80, "--prime", "ROMEO:",
            "--temperature", 0.8, "--seed", seed)
    status, first, _ = run(capsys, *args)
    assert status == 0 and first.startswith("ROMEO:") and len(first) == len("ROMEO:") + 81
    assert run(capsys, *args)[1] == first
    status, _, err = run(capsys, "graph", "--checkpoint", run_dir, "--out", tmp_path / "g.svg")
    assert status == 0 and "<svg" in (tmp_path / "g.svg").read_text()
    status, _, _ = run(capsys, "graph", "--checkpoint", run_dir, "--function", "step",
                       "--out", tmp_path / "g.dot")
    assert status == 0 and "GRUStep" in (tmp_path / "g.dot").read_text()
    assert os.path.exists(os.path.join(run_dir, "loss.csv"))


def test_resume_continues_and_refuses_other_settings(capsys, run_dir):
    status, _, err = run(capsys, "train", "--resume", run_dir, "--max-steps", 5, "--no-progress")
    assert status == 0, err
    assert load_checkpoint(os.path.join(run_dir, "latest.ckpt")).metadata["step"] == 5
    status, _, err = run(capsys, "train", "--resume", run_dir, "--hidden", 8)
    assert_one_line_error(status, err, "--hidden cannot be changed when resuming")


def test_bad_corpora(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    short = tmp_path / "short.txt"
    short.write_text("Hello there.\n")
    cases = [(tmp_path / "missing.txt", ["does not exist"]), (empty, ["is empty"]),
             (short, ["needs at least 33", "use a smaller --batch or --seq-len"])]
    for i, (path, fragments) in enumerate(cases):
        status, _, err = run(capsys, "train", path, "--out", tmp_path / f"o{i}", *TINY)
        assert_one_line_error(status, err, *fragments)


def test_binary_file_is_decoded_with_replacements_counted(capsys, tmp_path, rng):
    path = tmp_path / "binary.bin"
    path.write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    status, _, err = run(capsys, "train", path, "--out", tmp_path / "run", "--max-steps", 1,
                         *TINY)
    assert status == 0, err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "are not valid UTF-8 and were replaced by U+FFFD" in warning[0]


def test_unwritable_output_directory(capsys, tmp_path, corpus):
    (tmp_path / "file").write_text("x")
    status, _, err = run(capsys, "train", corpus, "--out", tmp_path / "file" / "run", *TINY)
    assert_one_line_error(status, err, "is not writable")
    status, _, err = run(capsys, "graph", "--checkpoint", SHAKESPEARE, "--out", "x.svg")
    assert_one_line_error(status, err, "truncated or corrupted")


def test_damaged_checkpoint_and_bad_prime(capsys, run_dir, tmp_path):
    ckpt = os.path.join(run_dir, "latest.ckpt")
    status, _, err = run(capsys, "generate", "--checkpoint", run_dir, "--prime", "Zoë")
    assert_one_line_error(status, err, "outside the model's vocabulary", "'ë'")
    damaged = tmp_path / "damaged.ckpt"
    data = bytearray(open(ckpt, "rb").read())
    data[100] ^= 0x55
    damaged.write_bytes(bytes(data))
    status, _, err = run(capsys, "generate", "--checkpoint", damaged)
    assert_one_line_error(status, err, "corrupted")
    status, _, err = run(capsys, "train", "--resume", tmp_path, "--no-progress")
    assert_one_line_error(status, err, "nothing to resume")


def test_other_architecture_and_changed_corpus(capsys, run_dir, tmp_path, corpus):
    ckpt = load_checkpoint(os.path.join(run_dir, "latest.ckpt"))
    meta = dict(ckpt.metadata, model=dict(ckpt.metadata["model"], layers=2))
    save_checkpoint(tmp_path / "other.ckpt", ckpt.arrays, meta)
    status, _, err = run(capsys, "generate", "--checkpoint", tmp_path / "other.ckpt")
    assert_one_line_error(status, err, "arrays do not fit this model", "param/l1/W_x missing")
    with open(corpus, "a", encoding="utf-8") as f:
        f.write("A new scene, added after the checkpoint.\n" * 10)
    status, _, err = run(capsys, "train", "--resume", run_dir, "--no-progress")
    assert_one_line_error(status, err, "saved sequencer position is for n_ids=")


def test_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(capsys, run_dir):
    before = load_checkpoint(os.path.join(run_dir, "latest.ckpt"))
    cfg = dict(before.metadata["train"])
    # an absurd learning rate blows the weights up within a step or two
    out = os.path.join(os.path.dirname(run_dir), "nan")
    status, _, err = run(capsys, "train", cfg["corpus"][0], "--out", out, "--lr", 1e38,
                         "--max-steps", 20, *TINY)
    assert_one_line_error(status, err, "training stopped")
    assert "at step" in err
    kept = load_checkpoint(os.path.join(out, "latest.ckpt")) if os.path.exists(
        os.path.join(out, "latest.ckpt")) else None
    if kept is not None:
        assert all(np.isfinite(a).all() for n, a in kept.arrays.items() if n.startswith("param"))


def test_demo_trains_generates_and_draws(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(cli.DEMO, "layers", 1)
    monkeypatch.setitem(cli.DEMO, "hidden", 16)
    out = tmp_path / "demo"
    status, text, err = run(capsys, "demo", "--minutes", 0.02, "--out", out, "--no-progress")
    assert status == 0, err
    assert "ROMEO:" in text and len(text.split("ROMEO:", 1)[1].strip("\n")) >= 400
    assert (out / "model.svg").exists() and (out / "loss.csv").exists()
    assert (out / "loss.png").exists() or "<polyline" in (out / "loss.svg").read_text()


def test_help_states_the_trainer_defaults(capsys):
    # the options, their help and defaults come from TrainConfig's fields: one source
    from dataclasses import fields

    from models.charrnn import model
    from models.charrnn.config import CELLS, OPTIMIZERS, TrainConfig, options

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in options():
        flag = "--" + f.name.replace("_", "-")
        assert f"{flag} " in text and " ".join(f.metadata["help"].split()) in text, flag
        if f.default is not None:
            assert f"(default: {f.default})" in text.split(flag + " ", 1)[1], flag
    names = {f.name for f in fields(TrainConfig)}
    assert names - {f.name for f in options()} == {"corpus", "out", "dtype", "progress"}
    assert "(default: runs/charrnn)" in text
    assert (CELLS, OPTIMIZERS) == (model.CELLS, model.OPTIMIZERS)


def test_config_and_parser_load_without_numpy():
    # --threads must pin OpenBLAS before NumPy loads: reading the command line may not load it
    code = ("import sys; from models.charrnn import cli; "
            "a = cli.build_parser().parse_args(['train', '--lr', '0.5', '--cell', 'lstm']); "
            "print('numpy' in sys.modules, a.lr, a.cell, a.hidden)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)
    assert done.stdout.split() == ["False", "0.5", "lstm", "None"]


def test_module_entry_point_help():
    done = subprocess.run([sys.executable, "-m", "models.charrnn", "--help"],
                          capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert done.returncode == 0
    assert all(cmd in done.stdout for cmd in ("train", "generate", "graph", "demo"))
    for command in ("train", "generate", "graph", "demo", "prepare"):
        done = subprocess.run([sys.executable, "-m", "models.charrnn", command, "--help"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0 and "(default: " in done.stdout, command


def test_pinned_threads_start_with_the_idle_policy():
    # Numba's OpenMP threads read OMP_WAIT_POLICY once, when they start: --threads must not
    # start them before kernels sets it (they spun against OpenBLAS, 2x slower training)
    code = ("import os; from models.charrnn import cli; cli._pin_threads(2); "
            "from numba.np.ufunc import parallel; "
            "print(parallel._is_initialized, os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY",
                                                           "NUMBA_THREADING_LAYER")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=True)
    assert done.stdout.split() == ["True", "PASSIVE"]


def test_threads_default_to_the_usable_cores(capsys, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert cli.default_threads() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert cli.default_threads() == cli.MAX_THREADS
    status, _, err = run(capsys, "--threads", "0", "generate", "--checkpoint", "nowhere")
    assert status == 1 and "--threads must be at least 1" in err
