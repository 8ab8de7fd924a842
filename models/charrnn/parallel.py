"""This rank's share of a data-parallel char-RNN run: rows, hidden states, dropout, agreement.

Under ``mpiexec -n W``, with ``--batch B``, the token stream is cut into ``W*B`` contiguous
rows exactly as a one-process run with batch ``W*B`` would cut it; rank ``r`` trains rows
``r*B .. (r+1)*B - 1`` and carries their hidden states. The train function all-reduces the
gradients, the loss, the accuracy and two stop flags in one buffer, so every rank applies the
same update, reports the same loss and stops after the same step (a time limit or Ctrl-C on
any rank stops all of them one step later). Rank 0 writes the checkpoint with the hidden
states of all ``W*B`` rows and every rank's dropout generators, gathered; a resumed run
needs the same ``W``. With one rank (no MPI) every method here is a no-op or the identity,
and nothing imports mpi4py. The design is in ``docs/distributed.md``.
"""

import numpy as np

from minigraph import distributed

from .config import TrainError


class Shard:
    """The rows, state and collectives of this rank, for `batch` rows per rank.

    Examples
    --------
    >>> shard = Shard(batch=4)
    >>> shard.world, shard.rank, shard.take(np.arange(8).reshape(4, 2)).shape
    (1, 0, (4, 2))
    """

    def __init__(self, batch):
        self.world, self.rank = distributed.size(), distributed.rank()
        self.batch, self.enabled = int(batch), self.world > 1
        self.rows = slice(self.rank * self.batch, (self.rank + 1) * self.batch)
        self.flags = None  # the shared [time is up, interrupted] vector, once compiled

    @property
    def is_root(self):
        """Whether this rank prints and writes checkpoints."""
        return self.rank == 0

    def take(self, rows):
        """This rank's rows of an array of all ``W*B`` rows (axis 0)."""
        return rows[self.rows] if self.enabled else rows

    def local_state(self, state):
        """This rank's rows of a saved ``(L, W*B, S)`` hidden state."""
        return state[:, self.rows] if self.enabled else state

    # ---- building

    def reduce(self, dtype):
        """The `compile_train` hook: gradients, loss, accuracy and the stop flags, averaged
        in one all-reduce (None with one rank: the train function stays as it was)."""
        if not self.enabled:
            return None
        import minigraph as theano

        self.flags = theano.shared(np.zeros(2, dtype=dtype), name="stop_flags")
        return lambda tensors: distributed.all_reduce(list(tensors) + [self.flags], op="mean")

    def seed_dropout(self, model, seed):
        """Give each rank its own dropout streams (rank 0 keeps the model's own), so ranks
        do not drop the same units in their different rows."""
        if self.rank == 0:
            return
        states = [np.random.default_rng([seed + 1, self.rank, i]).bit_generator.state
                  for i in range(len(model.rng_state()))]
        model.set_rng_state(states)

    def on_root(self, fn):
        """``fn()`` run by rank 0 alone, its result (or its exception) on every rank: rank 0
        reads the checkpoint, and the other machines need not see the run directory."""
        if not self.enabled:
            return fn()
        result, error = None, None
        if self.is_root:
            try:
                result = fn()
            except Exception as exc:  # raised below, on every rank alike
                error = exc
        result, error = distributed.broadcast_object((result, error))
        if error is not None:
            raise error
        return result

    def check_world(self, meta, path):
        """TrainError unless the checkpoint was written by a run of this many ranks."""
        saved = meta.get("world_size", 1)
        if saved != self.world:
            raise TrainError(f"'{path}' was written by a run of {saved} rank(s) and cannot be "
                             f"resumed on {self.world}: its data rows and hidden states are "
                             f"cut for {saved}; resume with mpiexec -n {saved}"
                             + (" (or without mpiexec)" if saved == 1 else ""))

    # ---- each step

    def set_wishes(self, time_up, interrupted):
        """Tell the next step what this rank wants: the flags ride in its all-reduce."""
        self.flags.set_value(np.array([time_up, interrupted], dtype=self.flags.dtype))

    @staticmethod
    def agreed(flags):
        """What every rank decides from the averaged flags: stop, and why, or go on."""
        return "interrupted" if flags[1] > 0 else "time" if flags[0] > 0 else None

    # ---- saving

    def gather(self, state, rng):
        """On rank 0: the ``(L, W*B, S)`` state of all rows and every rank's dropout states
        (None, None on the others). With one rank: `state` and ``[rng]``."""
        if not self.enabled:
            return state, [rng]
        both = distributed.gather_object((np.asarray(state), rng))
        if not self.is_root:
            return None, None
        return np.concatenate([s for s, _ in both], axis=1), [r for _, r in both]

    def check_consistent(self, model):
        """DistributedError unless every rank holds the same parameters and optimizer
        state (one tiny all-gather)."""
        if self.enabled:
            names = list(model.params) + list(model.optimizer_state)
            values = list(model.params.values()) + list(model.optimizer_state.values())
            distributed.check_consistent(values, names)

    def mean_over_ranks(self, values):
        """Each entry of the float64 vector `values` averaged over the ranks (one call)."""
        values = np.asarray(values, dtype=np.float64)
        return distributed.all_reduce_values([values], op="mean")[0] if self.enabled else values
