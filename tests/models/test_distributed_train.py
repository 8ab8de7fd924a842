"""Data-parallel char-RNN training on 2 MPI ranks (`models.charrnn.parallel`, `train`).

One 2-rank job (a worker script in a temporary directory) trains a tiny float64 GRU with
SGD and with Adam for 4 steps, each rank on 2 of the 4 rows, and Adam again for 2 + 2 steps
through a checkpoint; one plain process trains the same runs with all 4 rows. The tests
compare them: the same parameters and losses, bit-identical ranks, exact resume. A second
job is killed on one rank mid-run. Jobs run in their own process group with a timeout.
"""

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from models.charrnn.checkpoint import load_checkpoint
from models.charrnn.train import Trainer, TrainError
from tests.test_distributed import ROOT, TIMEOUT, needs_mpi, run_job

pytestmark = [needs_mpi, pytest.mark.slow]  # each job starts 2 processes that compile

WORKER = textwrap.dedent('''
    """argv: corpus out_dir. Runs sgd-4, adam-4, adam 2 then resumed to 4 steps, and with
    dropout 4 steps and 2 then resumed to 4."""
    import json, sys
    import numpy as np
    from minigraph import distributed
    from models.charrnn.train import TrainConfig, Trainer

    corpus, out = sys.argv[1], sys.argv[2]
    W, r = distributed.size(), distributed.rank()
    base = dict(corpus=(corpus,), cell="gru", layers=1, hidden=8, seq_len=8, batch=4 // W,
                dropout=0.0, dtype="float64", lr=0.05, eval_every=2, save_every=1,
                progress=False)

    def dump(trainer, name):
        np.savez(f"{out}/{name}-{W}-{r}.npz", **trainer.model.arrays(), state=trainer.state)

    for opt in ("sgd", "adam"):
        t = Trainer(TrainConfig(out=f"{out}/{opt}-{W}", optimizer=opt, max_steps=4, **base))
        t.run()
        dump(t, opt)
    Trainer(TrainConfig(out=f"{out}/half-{W}", optimizer="adam", max_steps=2, **base)).run()
    t = Trainer.resume(f"{out}/half-{W}", max_steps=4)
    t.run()
    dump(t, "resumed")
    drop = dict(base, dropout=0.3)
    t = Trainer(TrainConfig(out=f"{out}/drop-{W}", max_steps=4, **drop))
    t.run()
    dump(t, "drop")
    Trainer(TrainConfig(out=f"{out}/drophalf-{W}", max_steps=2, **drop)).run()
    t = Trainer.resume(f"{out}/drophalf-{W}", max_steps=4)
    t.run()
    dump(t, "dropresumed")
    with open(f"{out}/rate-{W}-{r}.json", "w") as f:
        json.dump({"chars": t.chars}, f)
''')


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The 1-process and 2-rank runs, done once for the tests of this module."""
    tmp = tmp_path_factory.mktemp("dist_train")
    text = "".join(np.random.default_rng(3).choice(list("abcdefgh .\n"), 6000))
    (tmp / "corpus.txt").write_text(text)
    (tmp / "worker.py").write_text(WORKER)
    args = [str(tmp / "worker.py"), str(tmp / "corpus.txt"), str(tmp)]
    for n in (None, 2):
        rc, out = run_job(args, n=n)
        assert rc == 0, out
    return tmp


def arrays(tmp, name, world, rank):
    return dict(np.load(tmp / f"{name}-{world}-{rank}.npz"))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_two_ranks_train_like_one_process_with_the_whole_batch(runs, name):
    one = arrays(runs, name, 1, 0)
    ranks = [arrays(runs, name, 2, r) for r in (0, 1)]
    for key in one:
        if key == "state":  # each rank carries the hidden state of its own two rows
            np.testing.assert_allclose(np.concatenate([r["state"] for r in ranks], axis=1),
                                       one["state"], rtol=1e-9, atol=1e-12)
            continue
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
        np.testing.assert_allclose(ranks[0][key], one[key], rtol=1e-9, atol=1e-12,
                                   err_msg=key)
    saved = [load_checkpoint(runs / f"{name}-{w}" / "latest.ckpt") for w in (1, 2)]
    np.testing.assert_allclose(saved[1].arrays["history/train"],
                               saved[0].arrays["history/train"], rtol=1e-9)
    np.testing.assert_allclose(saved[1].arrays["history/valid"],
                               saved[0].arrays["history/valid"], rtol=1e-9)
    np.testing.assert_allclose(saved[1].arrays["state/H"], saved[0].arrays["state/H"],
                               rtol=1e-9, atol=1e-12)
    assert saved[1].metadata["world_size"] == 2 and "world_size" not in saved[0].metadata


def test_resume_on_two_ranks_continues_exactly(runs):
    for r in (0, 1):
        straight, resumed = arrays(runs, "adam", 2, r), arrays(runs, "resumed", 2, r)
        for key in straight:
            np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)
    a = load_checkpoint(runs / "adam-2" / "latest.ckpt")
    b = load_checkpoint(runs / "half-2" / "latest.ckpt")
    np.testing.assert_array_equal(a.arrays["history/train"], b.arrays["history/train"])
    assert json.loads((runs / "rate-2-0.json").read_text())["chars"] == 4 * 4 * 8


def test_resume_with_dropout_continues_exactly_with_a_stream_per_rank(runs):
    for r in (0, 1):
        straight, resumed = arrays(runs, "drop", 2, r), arrays(runs, "dropresumed", 2, r)
        for key in straight:
            np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)
    rngs = load_checkpoint(runs / "drop-2" / "latest.ckpt").metadata["rng_ranks"]
    assert len(rngs) == 2 and rngs[0] != rngs[1]  # ranks drop different units
    assert not np.allclose(arrays(runs, "drop", 2, 0)["param/out/W"],
                           arrays(runs, "adam", 2, 0)["param/out/W"])  # dropout did act


def test_resume_under_another_world_size_is_refused(runs):
    with pytest.raises(TrainError, match="written by a run of 2 rank.*cannot be resumed on 1.*"
                                         "mpiexec -n 2"):
        Trainer.resume(runs / "half-2", log=lambda m: None)


def _rank_pids(root):
    """{rank: pid} of the ranks below the process `root`, read from /proc."""
    children = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                is_rank = b"mpi4py" in f.read()
        except OSError:
            continue
        if is_rank and b"PMI_RANK" in env:
            found[int(env[b"PMI_RANK"])] = pid
    return found


def _start_endless_job(tmp_path, seed, save_every):
    """``(process, out dir)`` of a 2-rank char-RNN training run that only stops when told
    (huge ``--max-steps``), in its own process group, stdout and stderr piped together."""
    (tmp_path / "c.txt").write_text("".join(np.random.default_rng(seed).choice(list("abc \n"),
                                                                                  20000)))
    out = tmp_path / "run"
    cmd = ["mpiexec", "-n", "2", sys.executable, "-m", "mpi4py", "-m", "models.charrnn",
           "train", str(tmp_path / "c.txt"), "--layers", "1", "--hidden", "8", "--seq-len",
           "8", "--batch", "2", "--max-steps", "1000000", "--save-every", str(save_every),
           "--eval-every", "1000000", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, out


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads rank pids from /proc")
def test_killing_one_rank_ends_the_job_and_keeps_the_checkpoint(tmp_path):
    proc, out = _start_endless_job(tmp_path, seed=1, save_every=3)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / "latest.ckpt").exists() and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        ranks = _rank_pids(proc.pid)
        assert sorted(ranks) == [0, 1], proc.poll()
        time.sleep(0.3)  # mid-run: a few more steps and saves
        killed = time.monotonic()
        os.kill(ranks[1], signal.SIGKILL)
        rc = proc.wait(timeout=30)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # our own group only
        proc.communicate()
    assert rc != 0 and took < 10, (rc, took)
    ckpt = load_checkpoint(out / "latest.ckpt")
    assert ckpt.metadata["step"] >= 3 and ckpt.metadata["world_size"] == 2
    assert ckpt.arrays["state/H"].shape == (1, 4, 8)  # both ranks' rows


def test_ctrl_c_stops_every_rank_after_the_same_step_and_saves(tmp_path):
    proc, out = _start_endless_job(tmp_path, seed=2, save_every=1000000)
    try:
        # a job that hangs before its first line must fail the test, not block it forever
        assert select.select([proc.stdout], [], [], TIMEOUT)[0], f"no output in {TIMEOUT} s"
        first = proc.stdout.readline()  # rank 0's "training a ..." line: the loop starts
        assert b"training a 1x8 GRU" in first, first
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGINT)  # mpiexec forwards it to every rank
        rest, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # our own group only
            proc.communicate()
    assert proc.returncode == 130, rest
    assert b"interrupted: saved step" in rest
    ckpt = load_checkpoint(out / "latest.ckpt")
    assert ckpt.metadata["step"] >= 1 and len(ckpt.metadata["rng_ranks"]) == 2
