"""Cutting encoded ids into training data: the train/validation split and the minibatches.

`split_corpus` holds out validation text (the last part of one file, whole last files by
Gorner's rule, or the books ``prepare`` held out); `MinibatchSequencer` yields batches whose
rows continue each other, so an RNN can carry its state from batch to batch, says which rows
begin a new book (`MinibatchSequencer.reset_mask`), and saves and restores its position
exactly. Both take ids already encoded (plain or memory-mapped arrays): nothing here reads a
file.
"""

from typing import NamedTuple

import numpy as np

from .files import DataError


class Split(NamedTuple):
    """Training and validation ids, and the files each came from (one file: both).

    For a corpus of books (made by ``prepare``), ``train_starts`` and ``valid_starts`` are
    where each book starts in ``train`` and in ``valid``; None otherwise.
    """

    train: np.ndarray
    valid: np.ndarray
    train_files: tuple
    valid_files: tuple
    train_starts: np.ndarray = None
    valid_starts: np.ndarray = None


def split_corpus(corpus, val_fraction=0.1, val_files=None):
    """Hold out validation text: whole files when there are several, else the last part.

    One file: the last `val_fraction` of it (nanoGPT: ``cut = int(n * 0.9)``). Several
    files: the last ``k`` whole files, where ``k`` follows Gorner's rule, the fewest of
    (last files making up more than `val_fraction` of the text, last files making up more
    than 90 KiB, a fifth of the files), except that ``k`` is at least 1 (Gorner holds out
    nothing below five files) and leaves at least one file for training.

    A corpus made by ``prepare`` is split where it says: its held-out books were chosen
    when it was prepared (``prepare --val-fraction``), and `val_fraction` is not used.

    Parameters
    ----------
    corpus : Corpus
    val_fraction : float
        In [0, 1); 0 means no validation text.
    val_files : int or None
        Hold out exactly this many last files instead of applying the rule.

    Returns
    -------
    Split
        Slices of ``corpus.ids`` (memory-mapped stays memory-mapped).

    Examples
    --------
    >>> from models.charrnn.data import load_corpus
    >>> split = split_corpus(load_corpus("models/data/tinyshakespeare.txt"))
    >>> len(split.train), len(split.valid)
    (1003854, 111540)
    """
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids, files, n_files = corpus.ids, tuple(corpus.files), len(corpus.files)
    if getattr(corpus, "book_offsets", None) is not None:
        return _split_books(corpus)
    if val_files is None and (n_files == 1 or val_fraction == 0):
        cut = int(len(ids) * (1 - val_fraction))
        return Split(ids[:cut], ids[cut:], files, files if cut < len(ids) else ())
    k = _gorner_held_out(corpus.offsets, val_fraction) if val_files is None else val_files
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n_files - 1:
        raise DataError(f"cannot hold out {k!r} of {n_files} files: need 1..{n_files - 1}, "
                        "keeping at least one file for training")
    cut = corpus.offsets[n_files - k]
    return Split(ids[:cut], ids[cut:], files[:n_files - k], files[n_files - k:])


def _split_books(corpus):
    offsets, k = np.asarray(corpus.book_offsets, np.int64), corpus.n_train_books
    cut = int(offsets[k])
    files = tuple(corpus.files)
    return Split(corpus.ids[:cut], corpus.ids[cut:], files, files if cut < len(corpus.ids)
                 else (), offsets[:k], offsets[k:-1] - cut)


def _gorner_held_out(offsets, val_fraction):
    from_last = np.cumsum(np.diff(offsets)[::-1])  # text in the last 1, 2, ... files
    by_fraction = np.searchsorted(from_last, val_fraction * offsets[-1], side="right") + 1
    by_size = np.searchsorted(from_last, 90 * 1024, side="right") + 1
    by_count = (len(offsets) - 1) // 5
    return int(min(max(1, min(by_fraction, by_size, by_count)), len(offsets) - 2))


# ----------------------------------------------------------------------- sequencer


class Position(NamedTuple):
    """Where a sequencer is: the next batch it yields is `step` of `epoch`."""

    epoch: int
    step: int


class MinibatchSequencer:
    """Minibatches whose rows continue each other, resumable exactly (Gorner's semantics).

    The first ``batch_size * seq_len * steps_per_epoch`` ids are cut into `batch_size`
    contiguous rows; step ``s`` of an epoch takes columns ``s*seq_len:(s+1)*seq_len``, so
    row ``i`` of one batch continues row ``i`` of the previous batch and an RNN can carry
    its hidden state across batches. At epoch ``e`` the rows are rolled by ``e``
    (row ``i`` reads data row ``(i + e) % batch_size``), so the state stays valid from one
    epoch to the next too; only the row that wraps from the end of the data to its start
    sees a jump. Targets ``y`` are the ids one position after ``x``. The leftover tail
    that does not fill a batch is skipped.

    Parameters
    ----------
    data : 1-D integer array (np.memmap welcome: only the batches are read)
    batch_size, seq_len : int
    n_epochs : int or None
        Iteration stops after this many epochs; None never stops.
    position : Position or (epoch, step)
        Where to start; to resume from a checkpoint, prefer `load_state_dict`, which also
        checks that the saved position belongs to this data and batch shape.
    starts : 1-D integer array or None
        Where the books of `data` start (``Split.train_starts``), for `reset_mask`.

    Examples
    --------
    >>> seq = MinibatchSequencer(np.arange(21), batch_size=2, seq_len=3, n_epochs=1)
    >>> x, y, epoch = next(iter(seq))
    >>> x.tolist(), y.tolist(), seq.position
    ([[0, 1, 2], [9, 10, 11]], [[1, 2, 3], [10, 11, 12]], Position(epoch=0, step=1))
    """

    def __init__(self, data, batch_size, seq_len, n_epochs=None, position=(0, 0), starts=None):
        data = data if isinstance(data, np.ndarray) else np.asarray(data)
        if data.ndim != 1 or data.dtype.kind not in "iu":
            raise DataError(f"sequencer data must be a 1-D integer array, got {data.dtype} "
                            f"with shape {data.shape}")
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise DataError(f"{name} must be a positive integer, got {value!r}")
        need = batch_size * seq_len + 1  # +1: the targets run one id past the inputs
        if len(data) < need:
            raise DataError(f"the data has {len(data)} characters but batch {batch_size} x "
                            f"seq-len {seq_len} needs at least {need}: use a smaller --batch "
                            "or --seq-len")
        self.batch_size, self.seq_len, self.n_epochs = int(batch_size), int(seq_len), n_epochs
        self.n_ids = len(data)
        self.steps_per_epoch = (len(data) - 1) // (batch_size * seq_len)
        used = self.batch_size * self.steps_per_epoch * self.seq_len
        self._x = data[:used].reshape(self.batch_size, -1)  # views: a memmap stays on disk
        self._y = data[1:used + 1].reshape(self.batch_size, -1)
        self.starts = None if starts is None else np.unique(np.asarray(starts, np.int64))
        self.seek(*position)

    @property
    def position(self):
        """The `Position` of the next batch."""
        return Position(self._epoch, self._step)

    def seek(self, epoch, step=0):
        """Make ``(epoch, step)`` the next batch; ``(n_epochs, 0)`` means finished."""
        if not (isinstance(epoch, (int, np.integer)) and isinstance(step, (int, np.integer))
                and epoch >= 0 and 0 <= step < self.steps_per_epoch):
            raise DataError(f"sequencer position ({epoch}, {step}) is not (epoch >= 0, step in "
                            f"0..{self.steps_per_epoch - 1})")
        self._epoch, self._step = int(epoch), int(step)

    def batch(self, epoch, step):
        """The ``(x, y)`` pair of ``(epoch, step)``, each (batch_size, seq_len), fresh arrays."""
        rows = (np.arange(self.batch_size) + epoch) % self.batch_size
        cols = slice(step * self.seq_len, (step + 1) * self.seq_len)
        return np.asarray(self._x[rows, cols]), np.asarray(self._y[rows, cols])

    def reset_mask(self, epoch, step):
        """Which rows of batch ``(epoch, step)`` begin a new book: their carried state is stale.

        Row ``i`` is reset when a book starts at one of the positions its inputs ``x[i]``
        cover (a hidden state can only be replaced between batches, so a book that starts
        inside a batch row begins from a state that saw at most ``seq_len - 1`` characters
        of the book before, never a whole book's). The row that wraps from the end of the
        data back to its start at a new epoch is reset too, since the data starts with a
        book. Without `starts` (plain files) no row is reset, as before books were known.

        Returns
        -------
        np.ndarray of bool, shape (batch_size,)

        Examples
        --------
        >>> seq = MinibatchSequencer(np.arange(21), 2, 3, starts=[0, 4, 13])
        >>> [seq.reset_mask(0, s).tolist() for s in range(3)]
        [[True, False], [True, True], [False, False]]
        """
        if self.starts is None:
            return np.zeros(self.batch_size, bool)
        row_len = self.steps_per_epoch * self.seq_len
        data_rows = (np.arange(self.batch_size) + epoch) % self.batch_size
        first = data_rows * row_len + step * self.seq_len  # stream position of x[:, 0]
        begins = np.searchsorted(self.starts, first, side="left")
        ends = np.searchsorted(self.starts, first + self.seq_len, side="left")
        return ends > begins

    def __iter__(self):
        """Yield ``(x, y, epoch)`` from the current position on, advancing it."""
        while self.n_epochs is None or self._epoch < self.n_epochs:
            epoch, step = self._epoch, self._step
            x, y = self.batch(epoch, step)
            if step + 1 == self.steps_per_epoch:
                self._epoch, self._step = epoch + 1, 0
            else:
                self._step = step + 1
            yield x, y, epoch

    def state_dict(self):
        """A JSON-able position, with what it is only valid for."""
        return {"epoch": self._epoch, "step": self._step, "batch_size": self.batch_size,
                "seq_len": self.seq_len, "n_ids": self.n_ids}

    def load_state_dict(self, state):
        """Resume from `state_dict`; DataError when it came from other data or shapes."""
        for key in ("batch_size", "seq_len", "n_ids"):
            if state.get(key) != getattr(self, key):
                raise DataError(f"saved sequencer position is for {key}={state.get(key)}, "
                                f"this sequencer has {key}={getattr(self, key)}")
        self.seek(state["epoch"], state["step"])
