"""The encode pass of ``prepare`` (`corpus.prepare`): tasks of files, worker processes, ids.

`tasks` deals the files into tasks of a few MiB; `run_tasks` runs `encode_task` on each in a
pool of worker processes and yields the results in task order. A worker cannot know the
corpus's vocabulary before the end, so it numbers the characters of its task itself
(`_LocalIds`, in order of first appearance) and returns its ids with its symbols. In the
parent, `IdWriter` translates each task's ids to corpus-wide ids (numbered by first
appearance over the tasks in order) and appends them to ``tokens.bin`` at once, so the
text is read and encoded once and memory stays constant: a worker holds one task's ids,
about `TASK_BYTES`, or one book when a book is larger. `IdWriter.finish` then makes the
`Vocabulary` of those ids.
"""

import multiprocessing
import os
import shutil
import warnings
from typing import NamedTuple

import numpy as np

from .files import (CHUNK_BYTES, DataError, UnreadableFileError, decode_text, iter_text,
                    looks_binary)
from .vocab import Vocabulary, code_points, one_byte_per_char

TOKENS = "tokens.bin"
TASK_BYTES = 4 << 20  # text per task: big enough to amortise a task, small enough to balance
TASK_FILES = 256
HEAD_BYTES = 8192  # what `looks_binary` sees of each file
COPY_IDS = 1 << 24  # ids translated per step when tokens.bin is rewritten


def tasks(books):
    """Deal `books` ((path, held_out) pairs) into tasks of about `TASK_BYTES` or `TASK_FILES`.

    A file met twice (the same device and inode: links, overlapping sources) is dropped.

    Examples
    --------
    >>> [len(t) for t in tasks([("models/data/nietzsche.txt", False)] * 2)]
    [1]
    """
    task, size, seen = [], 0, set()
    for path, valid in books:
        try:
            st = os.stat(path)
        except OSError:  # the worker counts it as unreadable
            st = None
        if st is not None:
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            size += st.st_size
        task.append((path, valid))
        if size >= TASK_BYTES or len(task) >= TASK_FILES:
            yield task
            task, size = [], 0
    if task:
        yield task


def usable_cores():
    """The cores this process may run on.

    Examples
    --------
    >>> usable_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_tasks(tasks, workers):
    """Yield each task's result in task order, from a process pool when `workers` > 1."""
    if workers <= 1:
        yield from map(encode_task, tasks)
        return
    # spawn, not fork: the parent may already run Numba's and OpenBLAS's threads
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(encode_task, tasks)


# ------------------------------------------------------------- in the worker processes


class TaskResult(NamedTuple):
    books: list  # (path, held_out) as given
    records: list  # (status, n_ids, replaced_bytes) per book
    symbols: str  # the task's own ids: symbols[i] has id i
    counts: np.ndarray  # occurrences of each symbol
    train: np.ndarray  # the task's training ids, then its held-out ids, in its own ids
    valid: np.ndarray
    bytes_read: int
    peak_rss: int  # the worker's peak resident memory so far, bytes (0 where unknown)


def encode_task(task):
    """Encode one task's books with the task's own ids (in a worker process)."""
    books, strip_gutenberg, count = task
    table, records, bytes_read = _LocalIds(count), [], 0
    out = {"train": [], "valid": []}
    for path, held in books:
        status, n_ids, bad, size = _encode_book(path, table, out["valid" if held else "train"],
                                                strip_gutenberg)
        records.append((status, n_ids, bad))
        bytes_read += size
    dtype = np.uint8 if len(table.symbols) <= 256 else np.uint16
    train, valid = (np.concatenate(out[k] or [np.zeros(0, dtype)]).astype(dtype, copy=False)
                    for k in ("train", "valid"))
    return TaskResult(books, records, "".join(table.symbols), table.counts, train, valid,
                      bytes_read, peak_rss())


def peak_rss():
    """This process's peak resident memory in bytes (Linux's VmHWM; 0 elsewhere).

    Not ``getrusage``: its maximum survives ``exec``, so a spawned worker would report the
    parent it was forked from.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _encode_book(path, table, sink, strip_gutenberg):
    """Append one book's ids to the list `sink`; ``(status, n_ids, replaced_bytes, bytes)``.

    A book up to `CHUNK_BYTES` (nearly all) is read with one call and decoded by
    `files.decode_text`; a larger one is read again in chunks by `files.iter_text`.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(size if size <= CHUNK_BYTES else HEAD_BYTES)
    except OSError:
        return "unreadable", 0, 0, 0
    if not data:
        return "empty", 0, 0, 0
    if looks_binary(data[:HEAD_BYTES]):
        return "binary", 0, 0, len(data)
    if len(data) == size:
        text, bad = decode_text(data, strip_gutenberg)
        if not text:
            return "empty", 0, 0, size
        sink.append(table.encode(text))
        return "kept", len(text), bad, size
    parts, bad = [], []
    try:
        for text in iter_text(path, CHUNK_BYTES, strip_gutenberg, on_bad_bytes=bad.append):
            parts.append(table.encode(text))
    except UnreadableFileError:
        return "unreadable", 0, 0, size
    except DataError:  # no text between the Gutenberg markers
        return "empty", 0, 0, size
    n_ids = sum(map(len, parts))
    if not n_ids:
        return "empty", 0, 0, size
    sink += parts
    return "kept", n_ids, bad[0], size


class _LocalIds:
    """A task's own character ids, numbered as characters first appear, with counts.

    Text of one byte per character (ASCII, Latin-1: nearly all books) is encoded by
    `bytes.translate`, about twice as fast as a NumPy lookup; `counts` costs a `bincount`
    per chunk, so it is kept only when asked (``--max-symbols`` needs it).
    """

    def __init__(self, count=False):
        self.lut = np.zeros(0x110000, np.uint16)  # code point -> id (valid where `known`)
        self.known = np.zeros(0x110000, bool)
        self.known_bytes = b""  # the code points below 256 that have an id
        self.byte_ids = bytes(256)  # their ids, as a translate table, while all are < 256
        self.symbols, self.counts, self.count = [], np.zeros(0, np.int64), count

    def encode(self, text):
        raw = one_byte_per_char(text)
        if raw is not None and not raw.translate(None, self.known_bytes) and not self.count:
            if len(self.symbols) <= 256:  # all known: the fast path
                return np.frombuffer(raw.translate(self.byte_ids), np.uint8)
            return np.take(self.lut[:256], np.frombuffer(raw, np.uint8))
        codes = np.frombuffer(raw, np.uint8) if raw is not None else code_points(text)
        counts = np.bincount(codes)
        present = np.flatnonzero(counts)
        self._number(present[~self.known[present]])
        if self.count:
            self.counts[self.lut[present]] += counts[present]
        return np.take(self.lut[:256] if codes.dtype == np.uint8 else self.lut, codes)

    def _number(self, new):
        if not len(new):
            return
        if len(self.symbols) + len(new) > 65536:
            raise DataError("more than 65536 distinct characters in one task")
        self.lut[new] = np.arange(len(self.symbols), len(self.symbols) + len(new))
        self.known[new] = True
        self.symbols += map(chr, new.tolist())
        self.counts = np.concatenate([self.counts, np.zeros(len(new), np.int64)])
        self.known_bytes = np.flatnonzero(self.known[:256]).astype(np.uint8).tobytes()
        if len(self.symbols) <= 256:
            self.byte_ids = self.lut[:256].astype(np.uint8).tobytes()


# ------------------------------------------------------------------ in the parent


class IdWriter:
    """Appends each task's ids to ``tokens.bin`` (held-out ones to a side file) as they
    come, translated to ids numbered by first appearance in the corpus; `finish` makes the
    vocabulary of those ids, so no second pass over the text is needed.

    The file starts as uint8 and is widened once to uint16 if the corpus has more than 256
    characters. With a fixed vocabulary (Gorner's) the final ids are written at once; with
    `max_symbols` the kept characters are only known at the end, and ``tokens.bin`` is
    translated once more.
    """

    def __init__(self, work, fixed=None):
        self.work, self.fixed = work, fixed
        self.paths = {"train": os.path.join(work, TOKENS), "valid": os.path.join(work, "valid")}
        self.files = {k: open(p, "wb") for k, p in self.paths.items()}
        self.ids, self.symbols, self.counts = {}, [], []
        self.dtype = fixed.dtype if fixed is not None else np.dtype(np.uint8)

    def add(self, result):
        for char, n in zip(result.symbols, result.counts.tolist()):
            if char not in self.ids:
                self.ids[char] = len(self.symbols)
                self.symbols.append(char)
                self.counts.append(0)
            self.counts[self.ids[char]] += n
        if self.fixed is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # characters outside it: counted in `unknown`
                table = self.fixed.encode(result.symbols)
        else:
            if len(self.symbols) > 256 and self.dtype == np.uint8:
                self._widen()
            table = np.array([self.ids[c] for c in result.symbols], self.dtype)
        for split in ("train", "valid"):
            ids = getattr(result, split)
            if ids.dtype == table.dtype == np.uint8:  # translate: twice NumPy's speed
                self.files[split].write(ids.tobytes().translate(np.resize(table, 256)
                                                                .tobytes()))
            else:
                np.take(table, ids).tofile(self.files[split])

    def _widen(self):
        """Rewrite the ids so far as uint16, block by block (they may be gigabytes)."""
        for split, f in self.files.items():
            f.close()
            _translate(self.paths[split], np.uint8, np.arange(256, dtype=np.uint16))
            self.files[split] = open(self.paths[split], "ab")
        self.dtype = np.dtype(np.uint16)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in self.files.values():
            f.close()

    def finish(self, max_symbols):
        """Append the held-out ids (after the ``with`` block); return the `Vocabulary`."""
        with open(self.paths["train"], "ab") as train, open(self.paths["valid"], "rb") as v:
            shutil.copyfileobj(v, train, 1 << 24)
        os.unlink(self.paths["valid"])
        if self.fixed is not None:
            return self.fixed
        if max_symbols is None or len(self.symbols) <= max_symbols:
            symbols = "".join(self.symbols)
            return Vocabulary(symbols, symbols.index(" ") if " " in symbols else 0, "text")
        vocab = Vocabulary.from_counts(dict(zip(self.symbols, self.counts)), max_symbols)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = vocab.encode("".join(self.symbols))
        _translate(self.paths["train"], self.dtype, table)
        return vocab

    def unknown(self, vocab):
        known = set(vocab.symbols)
        return sum(n for c, n in zip(self.symbols, self.counts) if c not in known)


def _translate(path, dtype, table):
    """Rewrite the ids in `path` through `table` (to `table`'s dtype), block by block."""
    n = os.path.getsize(path) // np.dtype(dtype).itemsize
    tmp = path + ".new"
    with open(tmp, "wb") as out:
        ids = np.memmap(path, dtype, "r", shape=(n,)) if n else np.zeros(0, dtype)
        for i in range(0, n, COPY_IDS):
            np.take(table, ids[i:i + COPY_IDS]).tofile(out)
        del ids
    os.replace(tmp, path)
