"""Tests of `models.charrnn.parallel.Shard` in one process (no MPI): the identity everywhere,
the stop decision read from averaged flags, the world-size check. Its 2-rank behaviour is
tested through training in ``tests/models/test_distributed_train.py``."""

import numpy as np
import pytest

from models.charrnn.parallel import Shard
from models.charrnn.train import TrainError


def test_one_rank_takes_every_row_and_keeps_the_state():
    shard = Shard(batch=3)
    assert (shard.world, shard.rank, shard.is_root, shard.enabled) == (1, 0, True, False)
    rows = np.arange(6).reshape(3, 2)
    assert shard.take(rows) is rows
    state = np.zeros((2, 3, 4))
    assert shard.local_state(state) is state
    assert shard.reduce("float32") is None  # the train function stays as it was
    gathered, rngs = shard.gather(state, {"seed": 1})
    assert gathered is state and rngs == [{"seed": 1}]
    np.testing.assert_array_equal(shard.mean_over_ranks([[1.0, 2.0]]), [[1.0, 2.0]])


@pytest.mark.parametrize("flags, reason", [([0, 0], None), ([0.5, 0], "time"),
                                           ([0.5, 0.5], "interrupted"),
                                           ([0, 0.25], "interrupted")])
def test_every_rank_reads_the_same_stop_from_the_averaged_flags(flags, reason):
    assert Shard.agreed(np.array(flags, dtype=np.float32)) == reason


def test_a_checkpoint_of_another_world_size_is_refused():
    shard = Shard(batch=2)
    shard.check_world({}, "run/latest.ckpt")  # one-process checkpoints carry no world size
    with pytest.raises(TrainError, match="run of 4 rank.*cannot be resumed on 1.*mpiexec -n 4"):
        shard.check_world({"world_size": 4}, "run/latest.ckpt")


def test_on_root_returns_the_result_or_raises_the_error():
    shard = Shard(batch=1)
    assert shard.on_root(lambda: 42) == 42
    with pytest.raises(KeyError, match="gone"):
        shard.on_root(lambda: {}["gone"])
