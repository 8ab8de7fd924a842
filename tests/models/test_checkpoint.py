"""Tests for models/charrnn/checkpoint.py: exact round trips, atomic saves, latest/best,
corruption detection and compatibility messages.

Random inputs come from a fresh seed printed by the `rng` fixture (shown when a test fails).
"""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from models.charrnn import checkpoint as ckpt_module
from models.charrnn.checkpoint import (
    CheckpointError, CheckpointManager, check_compatible, load_checkpoint, save_checkpoint)
from models.charrnn.data import MinibatchSequencer, Vocabulary




def sample_arrays(rng):
    return {
        "params/W_x": rng.standard_normal((5, 12)).astype(np.float32),
        "params/b": rng.standard_normal(12),
        "adam/m/W_x": rng.standard_normal((12, 5)).astype(np.float32).T,  # not contiguous
        "adam/t": np.int64(rng.integers(1, 100)),                           # 0-d
        "mask": rng.random((3, 4)) < 0.5,
        "ids": rng.integers(0, 98, 50).astype(np.uint8),
        "empty": np.zeros((0, 3)),
        "names": np.array(["a", "bé"]),
    }


def assert_same_arrays(got, expected):
    assert got.keys() == expected.keys()
    for name, a in expected.items():
        assert got[name].dtype == np.asarray(a).dtype and got[name].shape == np.shape(a), name
        np.testing.assert_array_equal(got[name], a)


def tmp_files(directory):
    return [f for f in os.listdir(directory) if f.endswith(".tmp")]


def test_round_trip_is_exact(tmp_path, rng):
    arrays = sample_arrays(rng)
    metadata = {"config": {"cell": "gru", "hidden": 512, "dropout": np.float32(0.5)},
                "vocab": Vocabulary.gorner().to_dict(), "step": np.int64(1234),
                "losses": [np.float64(2.5), 2.25], "shape": (2, 3), "bits": np.arange(3)}
    save_checkpoint(tmp_path / "a.ckpt", arrays, metadata, val_loss=np.float32(1.5))
    loaded = load_checkpoint(tmp_path / "a.ckpt")
    assert_same_arrays(loaded.arrays, arrays)
    assert loaded.metadata == {
        "config": {"cell": "gru", "hidden": 512, "dropout": 0.5},
        "vocab": Vocabulary.gorner().to_dict(), "step": 1234, "losses": [2.5, 2.25],
        "shape": [2, 3], "bits": [0, 1, 2]}
    assert loaded.val_loss == 1.5
    assert load_checkpoint(tmp_path / "a.ckpt", arrays=False).arrays == {}


def test_rng_state_and_sequencer_position_resume_exactly(tmp_path, rng):
    gen = np.random.default_rng(int(rng.integers(2**32)))
    ids = rng.integers(0, 65, 3000).astype(np.uint8)
    seq = MinibatchSequencer(ids, batch_size=4, seq_len=7)
    for _ in zip(range(int(rng.integers(1, 250))), seq):
        pass
    save_checkpoint(tmp_path / "r.ckpt", {"ids": ids},
                    {"rng": gen.bit_generator.state, "sequencer": seq.state_dict()})
    expected_draws, (expected_x, expected_y, _) = gen.random(5), next(iter(seq))

    loaded = load_checkpoint(tmp_path / "r.ckpt")
    gen2 = np.random.default_rng()
    gen2.bit_generator.state = loaded.metadata["rng"]
    np.testing.assert_array_equal(gen2.random(5), expected_draws)
    seq2 = MinibatchSequencer(loaded.arrays["ids"], 4, 7)
    seq2.load_state_dict(loaded.metadata["sequencer"])
    x, y, _ = next(iter(seq2))
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)


def test_manager_keeps_latest_and_best(tmp_path, rng):
    manager = CheckpointManager(tmp_path / "run")
    states = [{"w": rng.standard_normal(4)} for _ in range(5)]
    improved = [manager.save(s, {"step": i}, val_loss=v)
                for i, (s, v) in enumerate(zip(states, [2.0, 1.5, 1.8, float("nan"), None]))]
    assert improved == [True, True, False, False, False]
    assert_same_arrays(manager.load("best").arrays, states[1])
    assert manager.load("best").metadata == {"step": 1}
    assert_same_arrays(manager.load().arrays, states[4])
    reopened = CheckpointManager(tmp_path / "run")
    assert reopened.best_val_loss == 1.5
    assert not reopened.save(states[0], val_loss=1.6) and reopened.save(states[0], val_loss=1.4)
    with pytest.raises(ValueError, match="'latest' or 'best'"):
        manager.load("newest")


def test_truncated_files_are_rejected(tmp_path, rng):
    path = save_checkpoint(tmp_path / "t.ckpt", sample_arrays(rng), {"step": 1})
    blob = open(path, "rb").read()
    for keep in (len(blob) - 1, len(blob) - 30, len(blob) // 2, 100, 0):
        cut = tmp_path / f"cut{keep}.ckpt"
        cut.write_bytes(blob[:keep])
        with pytest.raises(CheckpointError, match="truncated or corrupted") as excinfo:
            load_checkpoint(cut)
        assert str(cut) in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_random_byte_flips_never_load_as_wrong_data(tmp_path, rng):
    arrays = sample_arrays(rng)
    path = save_checkpoint(tmp_path / "f.ckpt", arrays, {"step": 7, "lr": 0.001})
    blob = open(path, "rb").read()
    rejected = 0
    for position in rng.choice(len(blob), 60, replace=False):
        bad = bytearray(blob)
        bad[position] ^= 1 << int(rng.integers(8))
        (tmp_path / "bad.ckpt").write_bytes(bytes(bad))
        try:
            loaded = load_checkpoint(tmp_path / "bad.ckpt")
        except CheckpointError:
            rejected += 1
            continue
        assert_same_arrays(loaded.arrays, arrays)  # a harmless byte (zip attributes) only
        assert loaded.metadata == {"step": 7, "lr": 0.001}
    assert rejected >= 30, f"only {rejected} of 60 flips detected"


def test_checksum_catches_changed_data_inside_a_valid_zip(tmp_path, rng):
    arrays = sample_arrays(rng)
    path = save_checkpoint(tmp_path / "c.ckpt", arrays)
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    changed = np.array(arrays["params/b"])
    changed[3] += 1e-12
    npy = io.BytesIO()
    np.lib.format.write_array(npy, changed)
    entries["arrays/params/b.npy"] = npy.getvalue()
    with zipfile.ZipFile(path, "w") as zf:  # fresh zip: its own CRCs are all valid
        for name, content in entries.items():
            zf.writestr(name, content)
    with pytest.raises(CheckpointError, match="array 'params/b' .* checksum"):
        load_checkpoint(path)


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path, rng, monkeypatch):
    old = sample_arrays(rng)
    path = save_checkpoint(tmp_path / "p.ckpt", old, {"step": 1})

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(ckpt_module.os, "replace", disk_full)
        with pytest.raises(CheckpointError, match="No space left .* previous checkpoint is "
                                                  "unchanged") as excinfo:
            save_checkpoint(path, {"w": np.ones(3)}, {"step": 2})
    assert path in str(excinfo.value)
    assert_same_arrays(load_checkpoint(path).arrays, old)
    assert tmp_files(tmp_path) == []


def test_interrupted_save_leaves_previous_checkpoint_intact(tmp_path, rng, monkeypatch):
    manager = CheckpointManager(tmp_path)
    old = sample_arrays(rng)
    manager.save(old, {"step": 1}, val_loss=3.0)
    real_write, calls = np.lib.format.write_array, []

    def interrupted(*args, **kwargs):  # Ctrl-C in the middle of the second array
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(*args, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(np.lib.format, "write_array", interrupted)
        with pytest.raises(KeyboardInterrupt):
            manager.save(sample_arrays(rng), {"step": 2}, val_loss=1.0)
    for which in ("latest", "best"):
        assert_same_arrays(manager.load(which).arrays, old)
    assert manager.best_val_loss == 3.0 and tmp_files(tmp_path) == []


def test_unwritable_directory_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    target = str(blocker / "run")
    with pytest.raises(CheckpointError, match="is not writable") as excinfo:
        CheckpointManager(target)
    assert target in str(excinfo.value) and "\n" not in str(excinfo.value)
    with pytest.raises(CheckpointError, match="cannot write a checkpoint in directory") as excinfo:
        save_checkpoint(os.path.join(target, "x.ckpt"), {"w": np.ones(2)})
    assert target in str(excinfo.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_read_only_directory_is_named(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(CheckpointError, match="is not writable"):
        CheckpointManager(tmp_path / "ro")


def test_missing_and_foreign_files_are_rejected(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file at"):
        load_checkpoint(tmp_path / "nothing.ckpt")
    (tmp_path / "text.ckpt").write_text("hello")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(tmp_path / "text.ckpt")
    for header, expected in [({"format": "other"}, "is not a minigraph-checkpoint file"),
                             ({"format": "minigraph-checkpoint", "version": 2},
                              "format version 2, this code reads version 1")]:
        with zipfile.ZipFile(tmp_path / "h.ckpt", "w") as zf:
            zf.writestr("header.json", json.dumps(header))
        with pytest.raises(CheckpointError, match=expected):
            load_checkpoint(tmp_path / "h.ckpt")


@pytest.mark.parametrize("arrays, metadata, expected", [
    ({"w": np.array([{}, 1], dtype=object)}, None, "array 'w' has dtype object"),
    ({"../w": np.ones(1)}, None, "name '../w' is not a valid"),
    ({"a//b": np.ones(1)}, None, "name 'a//b' is not a valid"),
    ({"": np.ones(1)}, None, "name '' is not a valid"),
    ({}, {"config": {"cells": {"gru"}}}, "metadata.config.cells is a set"),
    ({}, {"losses": [1.0, 2j]}, r"metadata.losses\[1\] is a complex"),
    ({}, {3: "x"}, "metadata has a non-string key 3"),
])
def test_bad_checkpoint_contents_are_named(tmp_path, arrays, metadata, expected):
    with pytest.raises(CheckpointError, match=expected):
        save_checkpoint(tmp_path / "x.ckpt", arrays, metadata)
    assert os.listdir(tmp_path) == []  # checked before anything touches the disk


def test_check_compatible_names_what_differs(tmp_path, rng):
    config = {"cell": "gru", "hidden": 512, "layers": 3}
    vocab = Vocabulary.gorner().to_dict()
    path = save_checkpoint(tmp_path / "k.ckpt", {"W_h0": np.zeros((4, 12))},
                           {"config": config, "vocab": vocab})
    loaded = load_checkpoint(path)
    check_compatible(loaded, {"config": config, "vocab": vocab}, shapes={"W_h0": (4, 12)})

    text_vocab = Vocabulary.from_text("hello world, this is text.").to_dict()
    with pytest.raises(CheckpointError) as excinfo:
        check_compatible(loaded, {"config": dict(config, hidden=256, dropout=0.2),
                                  "vocab": text_vocab})
    message = str(excinfo.value)
    assert message.startswith(f"checkpoint '{path}' does not fit this run: ")
    for part in ("config.dropout: checkpoint has nothing, this run has 0.2",
                 "config.hidden: checkpoint has 512, this run has 256",
                 "vocab.kind: checkpoint has 'gorner', this run has 'text'",
                 "vocab.symbols: checkpoint has 98 characters, this run has 14, "
                 "first difference at index 0"):
        assert part in message
    assert "\n" not in message

    with pytest.raises(CheckpointError, match=r"array W_h0: checkpoint has \(4, 12\), this run "
                                              r"has \(8, 24\); array b: checkpoint has nothing"):
        check_compatible(loaded, {}, shapes={"W_h0": (8, 24), "b": (3,)})
