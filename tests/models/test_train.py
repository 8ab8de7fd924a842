"""Tests for models/charrnn/train.py: a tiny run whose loss falls, checkpoints that round-trip,
exact resume (also after Ctrl-C, across epochs, with dropout), NaN handling that keeps the last
good checkpoint, and one-line errors for bad corpora and directories.

Random choices (seeds of the runs) come from a fresh seed printed by the `rng` fixture.
"""

import os
import signal

import numpy as np
import pytest

from models.charrnn.checkpoint import CheckpointError, load_checkpoint
from models.charrnn.data import DataError, DataWarning
from models.charrnn.train import SHAKESPEARE, TrainConfig, Trainer, TrainError




@pytest.fixture
def corpus(tmp_path):
    with open(SHAKESPEARE, encoding="utf-8") as f:
        text = f.read(4000)
    path = tmp_path / "small.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def config(corpus, out, **kw):
    base = dict(corpus=(corpus,), out=str(out), layers=1, hidden=16, batch=4, seq_len=8,
                lr=1e-2, eval_every=5, save_every=3, progress=False, dropout=0.0)
    return TrainConfig(**{**base, **kw})


def quiet(_message):
    pass


def losses(trainer):
    return [row[2] for row in trainer.train_log]


def test_a_tiny_run_learns(corpus, tmp_path, rng):
    trainer = Trainer(config(corpus, tmp_path / "run", hidden=32, batch=8, seq_len=16,
                             max_steps=60, seed=int(rng.integers(1000))), log=quiet)
    result = trainer.run()
    got = losses(trainer)
    assert result.reason == "done" and result.step == 60 and len(got) == 60
    assert np.mean(got[-5:]) < got[0] - 0.8  # from ~ln(vocab) = 4.0 to ~3
    assert result.val_loss < got[0] - 0.5
    assert os.path.exists(tmp_path / "run" / "loss.csv")


def test_the_last_step_is_validated_when_a_checkpoint_falls_on_it(corpus, tmp_path):
    # save_every divides max_steps and eval_every does not: the run must still end with a
    # validation (it used to report "validation loss nan (best nan)")
    trainer = Trainer(config(corpus, tmp_path / "run", max_steps=6, save_every=3,
                             eval_every=100), log=quiet)
    result = trainer.run()
    assert result.step == 6 and np.isfinite(result.val_loss)
    assert result.best_val_loss == result.val_loss
    assert [row[0] for row in trainer.valid_log] == [6]


def test_checkpoint_holds_the_whole_training_state(corpus, tmp_path, rng):
    out = tmp_path / "run"
    trainer = Trainer(config(corpus, out, max_steps=7, dropout=0.3,
                             seed=int(rng.integers(1000))), log=quiet)
    trainer.run()
    ckpt = load_checkpoint(out / "latest.ckpt")
    for name, a in trainer.model.arrays().items():
        np.testing.assert_array_equal(ckpt.arrays[name], a)
    np.testing.assert_array_equal(ckpt.arrays["state/H"], trainer.state)
    meta = ckpt.metadata
    assert meta["step"] == 7 and meta["sequencer"]["step"] == trainer.batches.position.step
    assert meta["vocab"] == trainer.vocab.to_dict() and meta["train"]["max_steps"] == 7
    assert meta["rng"] == trainer.model.rng_state()
    best = load_checkpoint(out / "best.ckpt", arrays=False)
    assert best.val_loss == min(row[1] for row in trainer.valid_log)


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(corpus, tmp_path, rng):
    seed = int(rng.integers(1000))
    kw = dict(dropout=0.25, seed=seed, layers=2)  # dropout: the generators must resume too
    tiny = tmp_path / "tiny.txt"  # 450 characters: 5 steps per epoch
    tiny.write_text(open(SHAKESPEARE, encoding="utf-8").read(500)[50:], encoding="utf-8")
    corpus, kw["batch"] = str(tiny), 8
    whole = Trainer(config(corpus, tmp_path / "a", max_steps=12, **kw), log=quiet)
    whole.run()
    assert whole.batches.position.epoch == 2  # the run crosses epoch boundaries
    first = Trainer(config(corpus, tmp_path / "b", max_steps=5, **kw), log=quiet)
    first.run()
    resumed = Trainer.resume(tmp_path / "b", log=quiet, max_steps=12)
    assert resumed.step == 5
    resumed.run()
    assert losses(resumed) == losses(whole)  # exactly, not approximately
    np.testing.assert_array_equal(resumed.state, whole.state)


def test_ctrl_c_saves_and_the_run_resumes_exactly(corpus, tmp_path, rng):
    seed = int(rng.integers(1000))
    whole = Trainer(config(corpus, tmp_path / "a", max_steps=8, seed=seed), log=quiet)
    whole.run()
    trainer = Trainer(config(corpus, tmp_path / "b", max_steps=8, seed=seed), log=quiet)
    step = trainer.train_step

    def step_then_ctrl_c(*args):
        out = step(*args)
        if trainer.step == 3:  # Ctrl-C arrives while step 4 runs
            os.kill(os.getpid(), signal.SIGINT)
        return out

    trainer.train_step = step_then_ctrl_c
    result = trainer.run()
    assert result.reason == "interrupted" and result.step == 4
    assert load_checkpoint(tmp_path / "b" / "latest.ckpt", arrays=False).metadata["step"] == 4
    resumed = Trainer.resume(tmp_path / "b", log=quiet)
    resumed.run()
    assert losses(resumed) == losses(whole)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(corpus, tmp_path):
    out = tmp_path / "run"
    trainer = Trainer(config(corpus, out, max_steps=4, save_every=2), log=quiet)
    trainer.run()
    W = trainer.model.params["l0/W_h"]
    W.set_value(np.full_like(W.get_value(), np.nan))
    trainer.config = config(corpus, out, max_steps=10, save_every=2)
    with pytest.raises(TrainError, match=r"loss is nan at step 5: training stopped; the last "
                                         r"good checkpoint is .*latest.ckpt \(step 4\)"):
        trainer.run()
    ckpt = load_checkpoint(out / "latest.ckpt")
    assert ckpt.metadata["step"] == 4 and np.isfinite(ckpt.arrays["param/l0/W_h"]).all()


def test_non_finite_parameters_are_never_saved(corpus, tmp_path):
    trainer = Trainer(config(corpus, tmp_path / "run", max_steps=2), log=quiet)
    trainer.run()
    trainer.model.params["out/b"].set_value(np.full(trainer.model.config.vocab_size, np.inf,
                                                    dtype=np.float32))
    with pytest.raises(TrainError, match="parameter out/b is no longer finite"):
        trainer._save()
    assert load_checkpoint(tmp_path / "run" / "latest.ckpt").metadata["step"] == 2


def test_bad_corpora_give_one_line_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    short = tmp_path / "short.txt"
    short.write_text("To be or not to be.")
    cases = [(tmp_path / "missing.txt", "does not exist"), (empty, "is empty"),
             (short, r"needs at least 33: use a smaller --batch or --seq-len")]
    for i, (path, match) in enumerate(cases):
        with pytest.raises(DataError, match=match) as info:
            Trainer(config(str(path), tmp_path / f"out{i}", max_steps=1), log=quiet)
        assert "\n" not in str(info.value)


def test_non_utf8_bytes_are_replaced_and_counted(corpus, tmp_path):
    raw = open(corpus, "rb").read()
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(raw[:1000] + b"caf\xe9 \xff\xfe" + raw[1000:])
    with pytest.warns(DataWarning, match="3 bytes of .* are not valid UTF-8 and were replaced"):
        trainer = Trainer(config(str(bad), tmp_path / "run", max_steps=2), log=quiet)
    assert "\ufffd" in trainer.vocab.symbols
    assert trainer.run().step == 2


def test_output_directory_problems(corpus, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CheckpointError, match="is not writable"):
        Trainer(config(corpus, blocker / "run", max_steps=1), log=quiet)
    Trainer(config(corpus, tmp_path / "run", max_steps=1), log=quiet).run()
    with pytest.raises(TrainError, match="already holds a training run; continue it with "
                                         "--resume"):
        Trainer(config(corpus, tmp_path / "run", max_steps=1), log=quiet)
    with pytest.raises(TrainError, match="nothing to resume"):
        Trainer.resume(tmp_path / "nowhere", log=quiet)
    with pytest.raises(TrainError, match="cannot change hidden when resuming"):
        Trainer.resume(tmp_path / "run", log=quiet, hidden=8)


def test_a_damaged_checkpoint_is_not_resumed(corpus, tmp_path):
    out = tmp_path / "run"
    Trainer(config(corpus, out, max_steps=2), log=quiet).run()
    data = bytearray((out / "latest.ckpt").read_bytes())
    data[len(data) // 3] ^= 0xFF
    (out / "latest.ckpt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        Trainer.resume(out, log=quiet)


@pytest.mark.parametrize("bad, match", [
    (dict(max_steps=0), "--max-steps must be positive"),
    (dict(eval_every=0), "--eval-every must be a positive integer"),
    (dict(vocab="bytes"), "vocab must be 'text' or 'gorner'"),
])
def test_bad_settings(corpus, tmp_path, bad, match):
    with pytest.raises(TrainError, match=match):
        config(corpus, tmp_path, **bad)
