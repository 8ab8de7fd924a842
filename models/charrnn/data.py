"""The char-RNN's data pipeline: text files -> encoded ids -> continuing minibatches.

Everything the model needs before the graph lives here, in NumPy and the standard library
only: finding the corpus files, reading them (Project Gutenberg boilerplate stripped,
undecodable bytes replaced and reported), the character `Vocabulary`, an on-disk cache of
the encoded corpus that is memory-mapped so a 10 GB corpus trains in constant memory, the
train/validation split, and `MinibatchSequencer`, whose batches continue each other row by
row (Gorner's `rnn_minibatch_sequencer`) and whose position can be saved and restored.

Typical use::

    corpus = load_corpus("models/data/tinyshakespeare.txt", cache_dir="runs/cache")
    split = split_corpus(corpus)
    batches = MinibatchSequencer(split.train, batch_size=200, seq_len=30)
    for x, y, epoch in batches: ...
"""

import codecs
import glob
import hashlib
import io
import json
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

CHUNK_BYTES = 1 << 24  # 16 MiB read per step: memory stays flat whatever the corpus size
_SCAN_BYTES = 1 << 20  # Gutenberg markers sit in the first / last few KiB; look a bit further
_CACHE_VERSION = 1
_START = re.compile(rb"^\*\*\*[ \t]*START OF[^\n]*GUTENBERG[^\n]*", re.M | re.I)
_END = re.compile(rb"^\*\*\*[ \t]*END OF[^\n]*GUTENBERG[^\n]*", re.M | re.I)
_ESCAPED = re.compile("[\udc80-\udcff]")  # what 'surrogateescape' makes of each bad byte
_reported_files = set()  # (path, size, mtime) already warned about, so each warns once


class DataError(ValueError):
    """A corpus, vocabulary or batching request that cannot work; the message names why."""


class DataWarning(UserWarning):
    """Data was used with a repair: replaced bytes or characters outside the vocabulary."""


# --------------------------------------------------------------------------- files


def resolve_paths(sources):
    """Expand files, directories and globs into a sorted, de-duplicated list of files.

    Parameters
    ----------
    sources : str, os.PathLike or sequence of them
        Each is a file, a directory (all files below it, hidden ones skipped) or a glob
        (``**`` recurses). Each entry's expansion is sorted; entries keep their order.

    Returns
    -------
    list of str

    Raises
    ------
    DataError
        A path that does not exist, an empty directory, or a glob that matches nothing.

    Examples
    --------
    >>> resolve_paths("models/data/*.txt")[-1]
    'models/data/tinyshakespeare.txt'
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths, seen = [], set()
    for source in sources:
        for path in _expand(os.fspath(source)):
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                paths.append(path)
    if not paths:
        raise DataError("no corpus files given")
    return paths


def _expand(source):
    if any(c in source for c in "*?["):
        found = []
        for match in sorted(glob.glob(source, recursive=True)):
            found += _files_below(match) if os.path.isdir(match) else [match]
        if not found:
            raise DataError(f"corpus glob '{source}' matches no files")
        return found
    if os.path.isdir(source):
        found = _files_below(source)
        if not found:
            raise DataError(f"corpus directory '{source}' contains no files")
        return found
    if os.path.isfile(source):
        return [source]
    raise DataError(f"corpus path '{source}' does not exist")


def _files_below(directory):
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(root, f) for f in files if not f.startswith(".")]
    return sorted(found)


def _content_range(path, size):
    """Byte range of the text proper: inside the Gutenberg START/END markers when present."""
    with open(path, "rb") as f:
        head = f.read(_SCAN_BYTES)
        start = 0
        if m := _START.search(head):
            newline = head.find(b"\n", m.end())
            start = m.end() if newline < 0 else newline + 1
        tail_at = max(start, size - _SCAN_BYTES)
        f.seek(tail_at)
        m = _END.search(f.read())
    return start, (tail_at + m.start() if m else size)


def iter_text(path, chunk_bytes=CHUNK_BYTES, strip_gutenberg=True):
    """Yield the text of one file in chunks, decoded as UTF-8 with universal newlines.

    A UTF-8 byte-order mark is dropped, CRLF and CR become LF, and each byte that is not
    valid UTF-8 becomes U+FFFD; their count is reported once per file as a `DataWarning`.

    Parameters
    ----------
    path : str or os.PathLike
    chunk_bytes : int
        Bytes read per chunk; a chunk may end inside a character, the decoder carries it.
    strip_gutenberg : bool
        Keep only the text between ``*** START OF ... GUTENBERG ...`` and
        ``*** END OF ... GUTENBERG ...`` lines when they are present.

    Yields
    ------
    str

    Raises
    ------
    DataError
        The file is missing, unreadable, empty, or has no text between its markers.
    """
    path = os.fspath(path)
    try:
        stat = os.stat(path)
        if stat.st_size == 0:
            raise DataError(f"corpus file '{path}' is empty")
        start, stop = _content_range(path, stat.st_size) if strip_gutenberg else (0, stat.st_size)
        if stop <= start:
            raise DataError(f"corpus file '{path}' has no text between its Gutenberg markers")
        yield from _decode_range(path, start, stop, chunk_bytes, stat)
    except OSError as exc:
        raise DataError(f"cannot read corpus file '{path}': {exc.strerror or exc}") from None


def _decode_range(path, start, stop, chunk_bytes, stat):
    utf8 = codecs.getincrementaldecoder("utf-8-sig")("surrogateescape")
    decoder = io.IncrementalNewlineDecoder(utf8, translate=True)
    n_bad, left = 0, stop - start
    with open(path, "rb") as f:
        f.seek(start)
        while left > 0:
            raw = f.read(min(chunk_bytes, left))
            left = left - len(raw) if raw else 0  # a file that shrank ends the loop
            text = decoder.decode(raw, final=left == 0)
            if not text.isascii() and not _is_encodable(text):  # escaped bad bytes inside
                text, n = _ESCAPED.subn("\ufffd", text)
                n_bad += n
            if text:
                yield text
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if n_bad and key not in _reported_files:
        _reported_files.add(key)
        warnings.warn(f"'{path}': {n_bad} bytes of {stop - start} are not valid UTF-8 and were "
                      "replaced by U+FFFD", DataWarning, stacklevel=3)


def _is_encodable(text):
    try:
        text.encode("utf-8")  # C speed; fails only on the escapes of bad bytes
    except UnicodeEncodeError:
        return False
    return True


def read_text(path, strip_gutenberg=True):
    """Return the whole text of one file, read as `iter_text` reads it.

    Examples
    --------
    >>> read_text("models/data/tinyshakespeare.txt")[:14]
    'First Citizen:'
    """
    return "".join(iter_text(path, strip_gutenberg=strip_gutenberg))


# ---------------------------------------------------------------------- vocabulary

_GORNER_SYMBOLS = "\ufffd\t" + "".join(map(chr, range(32, 127))) + "\n"


class Vocabulary:
    """Characters <-> integer ids, encoding whole strings with a code-point lookup table.

    Parameters
    ----------
    symbols : str
        Distinct characters; ``symbols[i]`` has id ``i``.
    fallback : int
        The id given to characters outside the vocabulary. They are counted in
        ``n_unknown`` and reported once per vocabulary as a `DataWarning`.
    kind : str
        A label saved with the vocabulary (``"text"``, ``"gorner"``, ``"custom"``).

    Examples
    --------
    >>> v = Vocabulary.from_text("hello")
    >>> v.symbols, v.encode("hole").tolist(), v.decode([3, 1])
    ('ehlo', [1, 3, 2, 0], 'oh')
    """

    def __init__(self, symbols, fallback=0, kind="custom"):
        if not isinstance(symbols, str) or not symbols:
            raise DataError("a vocabulary needs a non-empty string of symbols")
        if len(symbols) > 65536:
            raise DataError(f"a vocabulary holds at most 65536 symbols, got {len(symbols)}")
        if len(set(symbols)) != len(symbols):
            dup = next(c for i, c in enumerate(symbols) if c in symbols[:i])
            raise DataError(f"vocabulary symbols repeat {dup!r}")
        if not isinstance(fallback, (int, np.integer)) or not 0 <= fallback < len(symbols):
            raise DataError(f"vocabulary fallback {fallback!r} is not an id in "
                            f"0..{len(symbols) - 1}")
        self.symbols, self.fallback, self.kind = symbols, int(fallback), str(kind)
        self.dtype = np.dtype(np.uint8 if len(symbols) <= 256 else np.uint16)
        self.n_unknown = 0
        self._lut = self._byte_table = self._latin1_table = self._codepoints = None

    @classmethod
    def gorner(cls):
        """Gorner's fixed 98-symbol ASCII alphabet, with his ids.

        Id 0 is the unknown symbol (decoded as U+FFFD, where Gorner wrote NUL), 1 is tab,
        2..96 are the printable ASCII characters 32..126 (id = code - 30), 97 is LF.
        Every other character, CR included, encodes to 0.
        """
        return cls(_GORNER_SYMBOLS, fallback=0, kind="gorner")

    @classmethod
    def from_text(cls, text, unknown=None):
        """Sorted unique characters of `text`.

        Characters met later outside them encode to `unknown` when given (it joins the
        symbols), else to the space when the text has one, else to id 0.
        """
        return cls._from_chars(_charset(text), unknown)

    @classmethod
    def from_files(cls, paths, unknown=None, strip_gutenberg=True, chunk_bytes=CHUNK_BYTES):
        """`from_text` over the files' text, read in chunks (constant memory)."""
        chars = set()
        for path in resolve_paths(paths):
            for text in iter_text(path, chunk_bytes, strip_gutenberg):
                chars |= _charset(text)
        return cls._from_chars(chars, unknown)

    @classmethod
    def _from_chars(cls, chars, unknown):
        if unknown is not None:
            chars = set(chars) | {unknown}
        if not chars:
            raise DataError("cannot build a vocabulary from empty text")
        symbols = "".join(sorted(chars))
        if unknown is None:
            unknown = " " if " " in symbols else symbols[0]
        return cls(symbols, symbols.index(unknown), kind="text")

    def to_dict(self):
        """A JSON-able description, saved with the model; `from_dict` reverses it."""
        return {"kind": self.kind, "symbols": self.symbols, "fallback": self.fallback}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a vocabulary saved by `to_dict`; raises DataError naming a bad field."""
        if not isinstance(d, dict) or not {"symbols", "fallback"} <= d.keys():
            raise DataError("a saved vocabulary must be a dict with 'symbols' and 'fallback'")
        return cls(d["symbols"], d["fallback"], d.get("kind", "custom"))

    def __len__(self):
        return len(self.symbols)

    def __eq__(self, other):
        return (isinstance(other, Vocabulary) and self.symbols == other.symbols
                and self.fallback == other.fallback)

    def __hash__(self):
        return hash((self.symbols, self.fallback))

    def __repr__(self):
        return f"Vocabulary(kind={self.kind!r}, size={len(self)}, fallback={self.fallback})"

    def encode(self, text):
        """Ids of the characters of `text`: uint8 for up to 256 symbols, else uint16.

        Vectorised: text of code points below 256 (ASCII, Latin-1) goes through a
        256-byte translation table, other text through a lookup table indexed by code point.
        """
        if not isinstance(text, str):
            raise TypeError(f"Vocabulary.encode takes str, not {type(text).__name__}")
        self._build_tables()
        raw = _one_byte_per_char(text)
        if raw is not None:
            codes = np.frombuffer(raw, np.uint8)
            if self._byte_table is not None:  # bytearray: the ids come back writable
                ids = np.frombuffer(bytearray(raw).translate(self._byte_table), np.uint8)
            else:
                ids = np.take(self._lut[:256], codes)
        else:
            codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4")
            ids = np.take(self._lut, codes)
        self._count_unknown(text, codes, ids)
        return ids

    def decode(self, ids):
        """The text of a 1-D sequence of ids (or one id)."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise DataError(f"ids to decode must be integers, got dtype {ids.dtype}")
        if ids.ndim > 1:
            raise DataError(f"decode takes one sequence of ids, got shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids.min() if ids.min() < 0 else ids.max()
            raise DataError(f"id {bad} is outside this vocabulary of {len(self)} symbols")
        self._build_tables()
        if self._latin1_table is not None:  # one byte per character: translate bytes
            raw = np.ascontiguousarray(ids, dtype=np.uint8).tobytes()
            return raw.translate(self._latin1_table).decode("latin-1")
        return self._codepoints[ids.ravel()].tobytes().decode("utf-32-le", "surrogatepass")

    def _build_tables(self):
        if self._lut is not None:
            return
        codes = np.array([ord(c) for c in self.symbols], dtype="<u4")
        self._codepoints = codes
        self._lut = np.full(0x110000, self.fallback, dtype=self.dtype)
        self._lut[codes] = np.arange(len(self.symbols))
        if len(self.symbols) <= 256:
            self._byte_table = self._lut[:256].astype(np.uint8).tobytes()
            if codes.max() < 256:
                self._latin1_table = np.resize(codes, 256).astype(np.uint8).tobytes()

    def _count_unknown(self, text, codes, ids):
        fallback_char = self.symbols[self.fallback]
        n = int(np.count_nonzero(ids == self.fallback))
        if n:  # ids equal to the fallback, less the fallback character's own occurrences
            n -= int(np.count_nonzero(codes == ord(fallback_char)))
        if n <= 0:
            return
        if self.n_unknown == 0:
            where = np.flatnonzero(ids == self.fallback)[:10000]
            seen = list(dict.fromkeys(text[i] for i in where if text[i] != fallback_char))
            warnings.warn(f"{n} characters outside the {self.kind} vocabulary of {len(self)} "
                          f"symbols (e.g. {', '.join(map(repr, seen[:5]))}) are encoded as id "
                          f"{self.fallback} ({fallback_char!r}); reported once per vocabulary",
                          DataWarning, stacklevel=3)
        self.n_unknown += n


def _one_byte_per_char(text):
    """`text` as Latin-1 bytes (ASCII included) when every code point is below 256."""
    if text.isascii():  # O(1) in CPython: a string knows its widest character
        return text.encode("ascii")
    try:
        return text.encode("latin-1")  # C speed; fails fast enough on wider text
    except UnicodeEncodeError:
        return None


def _charset(text):
    """The set of characters in `text`, counted with NumPy rather than a Python loop."""
    raw = _one_byte_per_char(text)
    if raw is not None:
        codes = np.frombuffer(raw, np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4")
    return {chr(c) for c in np.flatnonzero(np.bincount(codes))}


# -------------------------------------------------------------------------- corpus


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
    """

    ids: np.ndarray
    vocab: Vocabulary
    files: tuple
    offsets: tuple
    cache_path: str = None

    def __len__(self):
        return len(self.ids)


def load_corpus(sources, vocab=None, *, cache_dir=None, strip_gutenberg=True,
                chunk_bytes=CHUNK_BYTES):
    """Read, clean and encode a corpus, through a memory-mapped cache when asked.

    Parameters
    ----------
    sources : str, os.PathLike or sequence of them
        Files, directories or globs (see `resolve_paths`).
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


# --------------------------------------------------------------------------- split


class Split(NamedTuple):
    """Training and validation ids, and the files each came from (one file: both)."""

    train: np.ndarray
    valid: np.ndarray
    train_files: tuple
    valid_files: tuple


def split_corpus(corpus, val_fraction=0.1, val_files=None):
    """Hold out validation text: whole files when there are several, else the last part.

    One file: the last `val_fraction` of it (nanoGPT: ``cut = int(n * 0.9)``). Several
    files: the last ``k`` whole files, where ``k`` follows Gorner's rule, the fewest of
    (last files making up more than `val_fraction` of the text, last files making up more
    than 90 KiB, a fifth of the files), except that ``k`` is at least 1 (Gorner holds out
    nothing below five files) and leaves at least one file for training.

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
    >>> split = split_corpus(load_corpus("models/data/tinyshakespeare.txt"))
    >>> len(split.train), len(split.valid)
    (1003854, 111540)
    """
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids, files, n_files = corpus.ids, tuple(corpus.files), len(corpus.files)
    if val_files is None and (n_files == 1 or val_fraction == 0):
        cut = int(len(ids) * (1 - val_fraction))
        return Split(ids[:cut], ids[cut:], files, files if cut < len(ids) else ())
    k = _gorner_held_out(corpus.offsets, val_fraction) if val_files is None else val_files
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n_files - 1:
        raise DataError(f"cannot hold out {k!r} of {n_files} files: need 1..{n_files - 1}, "
                        "keeping at least one file for training")
    cut = corpus.offsets[n_files - k]
    return Split(ids[:cut], ids[cut:], files[:n_files - k], files[n_files - k:])


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

    Examples
    --------
    >>> seq = MinibatchSequencer(np.arange(21), batch_size=2, seq_len=3, n_epochs=1)
    >>> x, y, epoch = next(iter(seq))
    >>> x.tolist(), y.tolist(), seq.position
    ([[0, 1, 2], [9, 10, 11]], [[1, 2, 3], [10, 11, 12]], Position(epoch=0, step=1))
    """

    def __init__(self, data, batch_size, seq_len, n_epochs=None, position=(0, 0)):
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
