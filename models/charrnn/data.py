"""The char-RNN's data pipeline: text files -> encoded ids -> continuing minibatches.

Everything the model needs before the graph, in NumPy and the standard library only. This
module loads a corpus: it encodes the files into one id array (`Corpus`) through an on-disk
cache that is memory-mapped, so a 10 GB corpus trains in constant memory. The other steps
live beside it and are re-exported here, so ``from models.charrnn.data import ...`` reaches
the whole pipeline:

- `files`: finding the corpus files and reading them (Project Gutenberg boilerplate
  stripped, undecodable bytes replaced and reported), `DataError`, `DataWarning`;
- `vocab`: the character `Vocabulary`;
- `batches`: the train/validation split and `MinibatchSequencer`, whose batches continue
  each other row by row (Gorner's `rnn_minibatch_sequencer`) and whose position can be
  saved and restored;
- `corpus`: corpora of many books, encoded once by ``prepare`` into a directory that
  `load_corpus` opens memory-mapped, with its book boundaries and held-out books.

Typical use::

    corpus = load_corpus("models/data/tinyshakespeare.txt", cache_dir="runs/cache")
    split = split_corpus(corpus)
    batches = MinibatchSequencer(split.train, batch_size=200, seq_len=30)
    for x, y, epoch in batches: ...
"""

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from .batches import MinibatchSequencer, Position, Split, split_corpus
from .corpus import is_prepared, open_prepared
from .files import CHUNK_BYTES, DataError, DataWarning, iter_text, read_text, resolve_paths
from .vocab import Vocabulary

__all__ = ["CHUNK_BYTES", "Corpus", "DataError", "DataWarning", "MinibatchSequencer",
           "Position", "Split", "Vocabulary", "iter_text", "load_corpus", "read_text",
           "resolve_paths", "split_corpus"]

_CACHE_VERSION = 1


@dataclass(frozen=True)
class Corpus:
    """The encoded text of a corpus: its files' ids concatenated in file order.

    Attributes
    ----------
    ids : np.ndarray
        All ids; an ``np.memmap`` (read-only, on disk) when loaded through the cache.
    vocab : Vocabulary
    files : tuple of str
    offsets : tuple of int
        ``ids[offsets[i]:offsets[i + 1]]`` is the text of ``files[i]``.
    cache_path : str or None
        The memory-mapped cache file, when there is one.
    book_offsets : np.ndarray or None
        For a corpus made by ``prepare`` (then `files` is its directory): where each book
        starts in `ids`, and the end; the first `n_train_books` books are for training.
    n_train_books : int or None
    """

    ids: np.ndarray
    vocab: Vocabulary
    files: tuple
    offsets: tuple
    cache_path: str = None
    book_offsets: np.ndarray = None
    n_train_books: int = None

    def __len__(self):
        return len(self.ids)


def load_corpus(sources, vocab=None, *, cache_dir=None, strip_gutenberg=True,
                chunk_bytes=CHUNK_BYTES):
    """Read, clean and encode a corpus, through a memory-mapped cache when asked.

    Parameters
    ----------
    sources : str, os.PathLike or sequence of them
        Files, directories or globs (see `resolve_paths`), or one directory written by
        ``prepare`` (`corpus.prepare`), which is memory-mapped as it is.
    vocab : Vocabulary, "gorner" or None
        None builds one from the corpus (`Vocabulary.from_files`); when resuming, pass the
        checkpoint's vocabulary.
    cache_dir : str or None
        Where the encoded corpus is cached, keyed by the files' paths, sizes and mtimes,
        the vocabulary and `strip_gutenberg`; a changed file makes a new cache. The cache
        is built chunk by chunk and memory-mapped, so memory stays constant (about 100 MiB
        of buffers at the default `chunk_bytes`, measured for 64 MB and 1 GB corpora);
        the mapped pages that batches touch belong to the OS page cache, which the kernel
        reclaims when it needs to. None keeps the ids in memory.
    strip_gutenberg : bool
    chunk_bytes : int
        Bytes read and encoded per step.

    Returns
    -------
    Corpus

    Examples
    --------
    >>> corpus = load_corpus("models/data/tinyshakespeare.txt")
    >>> len(corpus), len(corpus.vocab)
    (1115394, 65)
    """
    prepared = _prepared_source(sources)
    if prepared is not None:
        return _load_prepared(prepared, vocab)
    paths = resolve_paths(sources)
    if vocab is None:
        vocab = (_cached_vocab(paths, cache_dir, strip_gutenberg, chunk_bytes) if cache_dir
                 else Vocabulary.from_files(paths, None, strip_gutenberg, chunk_bytes))
    elif isinstance(vocab, str) and vocab == "gorner":
        vocab = Vocabulary.gorner()
    elif not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a Vocabulary, 'gorner' or None, not {vocab!r}")
    if cache_dir is not None:
        return _load_cached(paths, vocab, os.fspath(cache_dir), strip_gutenberg, chunk_bytes)
    parts = []
    offsets = _encode_files(paths, vocab, parts.append, strip_gutenberg, chunk_bytes)
    return Corpus(np.concatenate(parts), vocab, tuple(paths), tuple(offsets))


def _prepared_source(sources):
    """The directory of a prepared corpus among `sources`, if any (then it must be alone)."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    found = [os.fspath(s) for s in sources if os.path.isdir(s) and is_prepared(s)]
    if found and len(sources) > 1:
        raise DataError(f"'{found[0]}' is a prepared corpus: give it as the only data "
                        "argument, or prepare all the text into one corpus")
    return found[0] if found else None


def _load_prepared(directory, vocab):
    prepared = open_prepared(directory)
    if isinstance(vocab, str) and vocab == "gorner":
        vocab = Vocabulary.gorner()
    if vocab is not None and vocab != prepared.vocab:
        raise DataError(f"prepared corpus '{directory}' has a {prepared.vocab.kind} vocabulary "
                        f"of {len(prepared.vocab)} symbols, the run needs its {vocab.kind} "
                        f"vocabulary of {len(vocab)}: prepare the text with that vocabulary")
    return Corpus(prepared.ids, prepared.vocab, (os.path.abspath(directory),),
                  (0, len(prepared.ids)), os.path.join(directory, "tokens.bin"),
                  prepared.offsets, prepared.n_train_books)


def _encode_files(paths, vocab, sink, strip_gutenberg, chunk_bytes):
    """Encode each file chunk by chunk into `sink`; return the file offsets."""
    offsets = [0]
    for path in paths:
        n = 0
        for text in iter_text(path, chunk_bytes, strip_gutenberg):
            ids = vocab.encode(text)
            sink(ids)
            n += len(ids)
        if n == 0:
            raise DataError(f"corpus file '{path}' has no text")
        offsets.append(offsets[-1] + n)
    return offsets


def _signature(paths, strip_gutenberg):
    files = []
    for path in paths:
        st = os.stat(path)
        files.append([os.path.abspath(path), st.st_size, st.st_mtime_ns])
    return {"version": _CACHE_VERSION, "files": files, "strip_gutenberg": strip_gutenberg}


def _cache_stem(cache_dir, prefix, signature):
    digest = hashlib.sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()
    return os.path.join(cache_dir, f"{prefix}-{digest[:24]}")


def _load_cached(paths, vocab, cache_dir, strip_gutenberg, chunk_bytes):
    signature = dict(_signature(paths, strip_gutenberg), vocab=vocab.to_dict())
    stem = _cache_stem(cache_dir, "corpus", signature)
    meta = _read_json(stem + ".json")
    itemsize = vocab.dtype.itemsize
    if (meta is None or meta.get("signature") != signature or not os.path.exists(stem + ".ids")
            or os.path.getsize(stem + ".ids") != meta["n_ids"] * itemsize):
        meta = _build_cache(paths, vocab, stem, signature, strip_gutenberg, chunk_bytes)
    ids = np.memmap(stem + ".ids", dtype=vocab.dtype, mode="r", shape=(meta["n_ids"],))
    return Corpus(ids, vocab, tuple(paths), tuple(meta["offsets"]), stem + ".ids")


def _build_cache(paths, vocab, stem, signature, strip_gutenberg, chunk_bytes):
    tmp = _make_temp(os.path.dirname(stem))
    try:
        with open(tmp, "wb") as f:
            offsets = _encode_files(paths, vocab, lambda ids: ids.tofile(f), strip_gutenberg,
                                    chunk_bytes)
        os.replace(tmp, stem + ".ids")  # a crash mid-build never leaves a short cache
    except OSError as exc:
        raise DataError(f"cannot write corpus cache '{stem}.ids': {exc.strerror or exc}") from None
    finally:
        _remove(tmp)
    meta = {"signature": signature, "n_ids": offsets[-1], "offsets": offsets}
    _write_json(stem + ".json", meta)
    return meta


def _cached_vocab(paths, cache_dir, strip_gutenberg, chunk_bytes):
    """`Vocabulary.from_files`, remembered so a large corpus is scanned once."""
    stem = _cache_stem(os.fspath(cache_dir), "vocab", _signature(paths, strip_gutenberg))
    try:
        return Vocabulary.from_dict(_read_json(stem + ".json"))
    except DataError:  # not there yet, or damaged: scan the files again
        pass
    vocab = Vocabulary.from_files(paths, None, strip_gutenberg, chunk_bytes)
    _write_json(stem + ".json", vocab.to_dict())
    return vocab


def _make_temp(directory):
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    except OSError as exc:
        raise DataError(f"cannot write to cache directory '{directory}': "
                        f"{exc.strerror or exc}") from None
    os.close(fd)
    return tmp


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):  # absent or half-written by a crashed run: rebuild
        return None


def _write_json(path, obj):
    tmp = _make_temp(os.path.dirname(path))
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"cannot write cache file '{path}': {exc.strerror or exc}") from None
    finally:
        _remove(tmp)
