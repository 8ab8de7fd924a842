"""Corpora of many books: ``prepare`` encodes a tree of text files once; training maps it.

``minigraph-charrnn prepare DIR... --out CORPUS`` reads every file below the given
directories (files and globs too, as `files.resolve_paths` takes them) in one pass over the
text, on every core, and writes a directory that ``train CORPUS`` memory-maps:

- ``tokens.bin``: the ids of all kept books, training books first, then the held-out ones,
  as raw ``uint8`` (vocabulary up to 256 symbols) or ``uint16``;
- ``offsets.npy``: int64, ``n_books + 1`` entries; book ``i`` is
  ``tokens[offsets[i]:offsets[i + 1]]``; the first ``n_train_books`` are for training;
- ``vocab.json``: the `Vocabulary`; ``index.tsv``: split, offset (within the split's part of
  ``tokens.bin``), length, replaced bytes and path of each book, in the order of the files;
  ``skipped.tsv``: reason and path of each skipped file;
- ``corpus.json``: format, version, dtype and counts; written last, it marks a complete
  corpus.

Policies. Each file is read as `files.iter_text` reads it: Gutenberg licence text stripped,
newlines made LF, every byte that is not valid UTF-8 replaced by U+FFFD (the files and bytes
are counted). A file is skipped, and counted, when it is empty (or has no text between its
Gutenberg markers), binary (`files.looks_binary` on its first 8 KiB: a NUL byte, or more than
10 % control characters or undecodable bytes) or unreadable. Whole books are held out for
validation: a book is held out when the hash of its path below the directory given
(``sha1``) falls in the first `val_fraction` of the hash range, so the split does not depend
on the order, the number of workers or where the tree lives. The vocabulary is every
character of the kept books (``--vocab text``, what a one-file run holds), the
``max_symbols - 1`` commonest of them plus U+FFFD, which the rest encode to (their count is
in the summary), or Gorner's fixed 98 (the same). A prepared corpus fixes its split and its
vocabulary: ``train CORPUS`` takes both from it.

One pass, parallel, constant memory: files are dealt to worker processes in tasks of a few
MiB, each encoded with ids of the task's own; the parent translates them to corpus-wide ids
numbered by first appearance and appends them to ``tokens.bin`` as they come
(`corpus_encode`). The vocabulary's symbols are therefore in order of first appearance (in
file order), not sorted as a one-file run's are; any order serves the model.
"""

import csv
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .corpus_encode import TOKENS, IdWriter, run_tasks, tasks, usable_cores  # noqa: F401
from .files import DataError, _files_below, resolve_paths
from .vocab import Vocabulary

FORMAT = "minigraph-charrnn-corpus"
VERSION = 1
META, OFFSETS, VOCAB = "corpus.json", "offsets.npy", "vocab.json"
INDEX, SKIPPED = "index.tsv", "skipped.tsv"
SKIP_REASONS = ("empty", "binary", "unreadable")


@dataclass
class PrepareSummary:
    """The counts of one ``prepare`` run (also saved in ``corpus.json``)."""

    files: int = 0
    books: dict = field(default_factory=lambda: {"train": 0, "valid": 0})
    tokens: dict = field(default_factory=lambda: {"train": 0, "valid": 0})
    skipped: dict = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    files_with_replaced_bytes: int = 0
    replaced_bytes: int = 0
    unknown_chars: int = 0
    bytes_read: int = 0
    vocab_size: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # of the process(es) that encoded, the largest


    def lines(self):
        """The summary ``prepare`` prints, one fact per line."""
        mb, s = self.bytes_read / 1e6, max(self.seconds, 1e-9)
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.items())
        return [f"{self.files:,} files, {mb:,.1f} MB read in {self.seconds:.1f} s "
                f"({self.files / s:,.0f} files/s, {mb / s:,.1f} MB/s; peak memory of an "
                f"encoding process {self.peak_rss_mb:,.0f} MB)",
                f"kept {self.books['train']:,} training books ({self.tokens['train']:,} "
                f"characters) and {self.books['valid']:,} held-out books "
                f"({self.tokens['valid']:,} characters)",
                f"skipped {sum(self.skipped.values()):,} files: {skipped}",
                f"{self.replaced_bytes:,} bytes that are not UTF-8 replaced by U+FFFD in "
                f"{self.files_with_replaced_bytes:,} files; {self.unknown_chars:,} characters "
                f"outside the vocabulary of {self.vocab_size} symbols"]


class Prepared(NamedTuple):
    """A prepared corpus opened for training: ids memory-mapped, nothing else loaded."""

    directory: str
    ids: np.ndarray
    vocab: Vocabulary
    offsets: np.ndarray
    n_train_books: int
    meta: dict


# --------------------------------------------------------------------------- prepare


def prepare(sources, out, val_fraction=0.05, vocab="text", max_symbols=None, workers=None,
            strip_gutenberg=True):
    """Encode a tree of text files into a corpus directory that training memory-maps.

    Parameters
    ----------
    sources : str, os.PathLike or sequence of them
        Directories (every file below, hidden ones skipped), files or globs.
    out : str or os.PathLike
        The corpus directory to create; it must not exist yet.
    val_fraction : float
        In [0, 1): the expected share of books held out whole for validation.
    vocab : {'text', 'gorner'}
    max_symbols : int or None
        With ``vocab='text'``: keep the commonest characters only (see
        `Vocabulary.from_counts`).
    workers : int or None
        Processes encoding in parallel (None: the usable cores; 1: this process only).
    strip_gutenberg : bool

    Returns
    -------
    PrepareSummary

    Raises
    ------
    DataError
        A missing source, an existing `out`, bad settings, or no text in any file.

    Notes
    -----
    The workers are started with ``spawn``, which imports the calling script again in each:
    a script that calls `prepare` with more than one worker needs the usual
    ``if __name__ == "__main__":`` guard.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp() + "/corpus"
    >>> prepare("models/data", out, val_fraction=0.1, workers=1).books
    {'train': 1, 'valid': 1}
    """
    t0 = time.perf_counter()
    out = os.fspath(out)
    _check_settings(out, val_fraction, vocab, max_symbols, workers)
    books = _list_books(sources, val_fraction)
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
        work = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", dir=parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(work, 0o777 & ~umask)  # mkdtemp makes it private; a corpus is plain data
    except OSError as exc:
        raise DataError(f"cannot create '{out}': {exc.strerror or exc}") from None
    try:
        summary = _prepare_into(work, books, vocab, max_symbols, workers, strip_gutenberg)
        summary.seconds = time.perf_counter() - t0
        _write_meta(work, summary, sources, val_fraction, vocab, max_symbols, strip_gutenberg)
        os.rename(work, out)  # a crash before this leaves no half corpus under `out`
    except OSError as exc:
        raise DataError(f"cannot write corpus '{out}': {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def _check_settings(out, val_fraction, vocab, max_symbols, workers):
    if os.path.exists(out):
        raise DataError(f"'{out}' already exists: prepare writes a new corpus directory; "
                        "choose another --out or remove it")
    if not (isinstance(val_fraction, (int, float)) and 0 <= val_fraction < 1):
        raise DataError(f"--val-fraction must be in [0, 1), got {val_fraction!r}")
    if vocab not in ("text", "gorner"):
        raise DataError(f"vocab must be 'text' or 'gorner', got {vocab!r}")
    if max_symbols is not None and not (isinstance(max_symbols, int)
                                        and 2 <= max_symbols <= 65536):
        raise DataError(f"--max-symbols must be in 2..65536, got {max_symbols!r}")
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise DataError(f"--workers must be a positive integer, got {workers!r}")


def _list_books(sources, val_fraction):
    """``(path, held_out)`` of every file, in `resolve_paths` order per source."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    books = []
    for source in map(os.fspath, sources):
        if os.path.isdir(source) and is_prepared(source):
            raise DataError(f"'{source}' is a prepared corpus, not text to prepare")
        root = source if os.path.isdir(source) else None
        found = _files_below(source) if root else resolve_paths(source)
        if not found:
            raise DataError(f"corpus directory '{source}' contains no files")
        for path in found:
            # `found` paths are root + separator + the path below: cut rather than relpath,
            # which normalises both paths (a second per file for 30,000 files)
            key = path[len(os.path.join(root, "")):] if root else os.path.basename(path)
            books.append((path, held_out(key, val_fraction)))
    return books


def held_out(key, val_fraction):
    """Whether the book at relative path `key` is held out for validation.

    Its sha1 hash, read as a fraction of the hash range, is below `val_fraction`: the same
    books are held out whatever the machine, the order of files or the number of workers.

    Examples
    --------
    >>> held_out("austen/emma.txt", 0.0), held_out("austen/emma.txt", 1.0)
    (False, True)
    """
    digest = hashlib.sha1(key.replace(os.sep, "/").encode("utf-8", "surrogateescape"))
    return int.from_bytes(digest.digest()[:8], "big") < val_fraction * 2.0 ** 64


def _prepare_into(work, books, vocab, max_symbols, workers, strip_gutenberg):
    count = max_symbols is not None or vocab != "text"  # only then can characters be lost
    jobs = [(t, strip_gutenberg, count) for t in tasks(books)]
    summary = PrepareSummary(files=sum(len(job[0]) for job in jobs))
    workers = max(1, min(workers or usable_cores(), len(jobs)))
    lengths = {"train": [], "valid": []}
    with IdWriter(work, Vocabulary.gorner() if vocab == "gorner" else None) as ids, \
            _Table(os.path.join(work, INDEX), "split", "offset", "length", "replaced_bytes",
                   "path") as index, _Table(os.path.join(work, SKIPPED), "reason", "path") as skip:
        for result in run_tasks(jobs, workers):
            ids.add(result)
            summary.bytes_read += result.bytes_read
            summary.peak_rss_mb = max(summary.peak_rss_mb, result.peak_rss / 2**20)
            for (path, valid), (status, n, bad) in zip(result.books, result.records):
                if status != "kept":
                    summary.skipped[status] += 1
                    skip.row(status, path)
                    continue
                split = "valid" if valid else "train"
                index.row(split, summary.tokens[split], n, bad, path)
                lengths[split].append(n)
                summary.books[split] += 1
                summary.tokens[split] += n
                summary.files_with_replaced_bytes += bad > 0
                summary.replaced_bytes += bad
    if not lengths["train"] and not lengths["valid"]:
        raise DataError(f"no text in {summary.files:,} files: " + ", ".join(
            f"{n} {why}" for why, n in summary.skipped.items()))
    voc = ids.finish(max_symbols)
    summary.vocab_size = len(voc)
    summary.unknown_chars = ids.unknown(voc)
    offsets = np.cumsum([0] + lengths["train"] + lengths["valid"], dtype=np.int64)
    np.save(os.path.join(work, OFFSETS), offsets)
    _write_json(os.path.join(work, VOCAB), voc.to_dict())
    return summary


class _Table:
    """A tab-separated file written row by row (paths may hold any bytes)."""

    def __init__(self, path, *header):
        self.file = open(path, "w", newline="", encoding="utf-8", errors="surrogateescape")
        self.writer = csv.writer(self.file, "excel-tab")
        self.writer.writerow(header)

    def row(self, *values):
        self.writer.writerow(values)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def _write_meta(work, summary, sources, val_fraction, vocab, max_symbols, strip_gutenberg):
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    vocabulary = Vocabulary.from_dict(_read_json(os.path.join(work, VOCAB)))
    meta = {"format": FORMAT, "version": VERSION, "dtype": vocabulary.dtype.name,
            "n_tokens": summary.tokens["train"] + summary.tokens["valid"],
            "n_books": summary.books["train"] + summary.books["valid"],
            "n_train_books": summary.books["train"],
            "summary": summary.__dict__, "val_fraction": val_fraction, "vocab": vocab,
            "max_symbols": max_symbols, "strip_gutenberg": strip_gutenberg,
            "sources": [os.path.abspath(os.fspath(s)) for s in sources]}
    _write_json(os.path.join(work, META), meta)


def _write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------------------ open


def is_prepared(directory):
    """Whether `directory` is (or was meant to be) a corpus written by `prepare`."""
    return any(os.path.exists(os.path.join(directory, name)) for name in (META, TOKENS))


def open_prepared(directory):
    """Open a corpus written by `prepare`: the ids memory-mapped, checked against the meta.

    Parameters
    ----------
    directory : str or os.PathLike

    Returns
    -------
    Prepared

    Raises
    ------
    DataError
        A file missing, another format or version, or sizes that do not agree.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp() + "/corpus"
    >>> _ = prepare("models/data", out, val_fraction=0.1, workers=1)
    >>> c = open_prepared(out)
    >>> len(c.ids), c.n_train_books, type(c.ids).__name__
    (1716295, 1, 'memmap')
    """
    directory = os.fspath(directory)
    where = f"prepared corpus '{directory}'"
    redo = "run `minigraph-charrnn prepare` again"
    try:
        meta = _read_json(os.path.join(directory, META))
    except FileNotFoundError:
        raise DataError(f"{where} has no {META} (an unfinished or damaged corpus): "
                        f"{redo}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}: cannot read {META}: {exc}: {redo}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{where}: {META} is not a minigraph char-RNN corpus")
    if meta.get("version") != VERSION:
        raise DataError(f"{where} has format version {meta.get('version')}, this minigraph "
                        f"reads version {VERSION}: {redo}")
    for name in (TOKENS, OFFSETS, VOCAB):
        if not os.path.exists(os.path.join(directory, name)):
            raise DataError(f"{where} is missing {name}: {redo}")
    try:
        vocab = Vocabulary.from_dict(_read_json(os.path.join(directory, VOCAB)))
        offsets = np.load(os.path.join(directory, OFFSETS))
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}: cannot read its vocabulary or offsets: {exc}: {redo}") \
            from None
    n, path = meta["n_tokens"], os.path.join(directory, TOKENS)
    if (vocab.dtype.name != meta["dtype"] or os.path.getsize(path) != n * vocab.dtype.itemsize
            or offsets.shape != (meta["n_books"] + 1,) or int(offsets[-1]) != n):
        raise DataError(f"{where}: {TOKENS}, {OFFSETS} and {META} do not agree (a truncated "
                        f"or mixed corpus): {redo}")
    ids = np.memmap(path, vocab.dtype, "r", shape=(n,)) if n else np.zeros(0, vocab.dtype)
    return Prepared(directory, ids, vocab, offsets, int(meta["n_train_books"]), meta)
