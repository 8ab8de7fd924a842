"""Finding and reading the char-RNN's corpus files: paths, Gutenberg stripping, decoding.

The bottom layer of the data pipeline, in the standard library only: `resolve_paths` turns
files, directories and globs into a list of files; `iter_text` reads one of them in chunks
of constant size, drops Project Gutenberg's licence boilerplate and decodes UTF-8 with every
undecodable byte replaced and reported once. `DataError` and `DataWarning`, the errors of the
whole pipeline (`vocab`, `batches`, `data`), live here because every other data module
imports this one.
"""

import codecs
import glob
import io
import os
import re
import warnings

CHUNK_BYTES = 1 << 24  # 16 MiB read per step: memory stays flat whatever the corpus size
_SCAN_BYTES = 1 << 20  # Gutenberg markers sit in the first / last few KiB; look a bit further
_START = re.compile(rb"^\*\*\*[ \t]*START OF[^\n]*GUTENBERG[^\n]*", re.M | re.I)
_END = re.compile(rb"^\*\*\*[ \t]*END OF[^\n]*GUTENBERG[^\n]*", re.M | re.I)
_ESCAPED = re.compile("[\udc80-\udcff]")  # what 'surrogateescape' makes of each bad byte
_ODD = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\udc80-\udcff]")  # controls, bad bytes
_ASCII_TEXT = bytes(range(32, 127)) + b"\t\n\r\f"
_reported_files = set()  # (path, size, mtime) already warned about, so each warns once


class DataError(ValueError):
    """A corpus, vocabulary or batching request that cannot work; the message names why."""


class UnreadableFileError(DataError):
    """A corpus file the system would not let us read (``prepare`` counts these apart)."""


class DataWarning(UserWarning):
    """Data was used with a repair: replaced bytes or characters outside the vocabulary."""


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
        start, _ = _content_range_of(head, b"", len(head))
        tail_at = max(start, size - _SCAN_BYTES)
        f.seek(tail_at)
        tail = f.read()
    start, stop = _content_range_of(head, tail, tail_at)
    return start, stop


def iter_text(path, chunk_bytes=CHUNK_BYTES, strip_gutenberg=True, on_bad_bytes=None):
    """Yield the text of one file in chunks, decoded as UTF-8 with universal newlines.

    A UTF-8 byte-order mark is dropped, CRLF and CR become LF, and each byte that is not
    valid UTF-8 becomes U+FFFD; their count is reported once per file as a `DataWarning`,
    or given to `on_bad_bytes`.

    Parameters
    ----------
    path : str or os.PathLike
    chunk_bytes : int
        Bytes read per chunk; a chunk may end inside a character, the decoder carries it.
        A file of at most this size is read with one call.
    strip_gutenberg : bool
        Keep only the text between ``*** START OF ... GUTENBERG ...`` and
        ``*** END OF ... GUTENBERG ...`` lines when they are present.
    on_bad_bytes : callable or None
        Called once, after the last chunk, with the number of replaced bytes (0 included)
        instead of the warning; ``prepare`` counts them over many files this way.

    Yields
    ------
    str

    Raises
    ------
    DataError
        The file is missing, unreadable, empty, or has no text between its markers.

    Examples
    --------
    >>> next(iter_text("models/data/tinyshakespeare.txt"))[:14]
    'First Citizen:'
    """
    path = os.fspath(path)
    try:
        stat = os.stat(path)
        if stat.st_size == 0:
            raise DataError(f"corpus file '{path}' is empty")
        if stat.st_size <= chunk_bytes:  # one read: most books, and many small files fast
            with open(path, "rb") as f:
                data = f.read()
            start, stop = _content_range_of(data, data, 0) if strip_gutenberg else (0, len(data))
            chunks = (data[start:stop],) if start < stop else ()
        else:
            start, stop = _content_range(path, stat.st_size) if strip_gutenberg else (
                0, stat.st_size)
            chunks = _read_range(path, start, stop, chunk_bytes)
        if stop <= start:
            raise DataError(f"corpus file '{path}' has no text between its Gutenberg markers")
        n_bad = yield from _decode_chunks(chunks)
    except OSError as exc:
        raise UnreadableFileError(f"cannot read corpus file '{path}': {exc.strerror or exc}") \
            from None
    if on_bad_bytes is not None:
        on_bad_bytes(n_bad)
        return
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if n_bad and key not in _reported_files:
        _reported_files.add(key)
        warnings.warn(f"'{path}': {n_bad} bytes of {stop - start} are not valid UTF-8 and were "
                      "replaced by U+FFFD", DataWarning, stacklevel=2)


def decode_text(data, strip_gutenberg=True):
    """The text of a whole file's bytes as `iter_text` reads it, and how many bytes of it
    were replaced; ``("", 0)`` when there is no text (between the Gutenberg markers).

    ``prepare`` reads each small book with one call and decodes it here, rather than open it
    again through `iter_text`.

    Examples
    --------
    >>> decode_text(b"one\\r\\ntwo\\xff")
    ('one\\ntwo\\ufffd', 1)
    """
    start, stop = _content_range_of(data, data, 0) if strip_gutenberg else (0, len(data))
    if stop <= start:
        return "", 0
    chunks, parts = _decode_chunks((data[start:stop],)), []
    while True:
        try:
            parts.append(next(chunks))
        except StopIteration as done:
            return "".join(parts), done.value


def _content_range_of(head, tail, tail_at):
    """`_content_range` on bytes already read: `head` from offset 0, `tail` from `tail_at`."""
    start = 0
    if m := _marker(_START, head, 0, _SCAN_BYTES):
        newline = head.find(b"\n", m.end())
        start = m.end() if newline < 0 else newline + 1
    size = tail_at + len(tail)
    tail_from = max(start, size - _SCAN_BYTES) - tail_at
    m = _marker(_END, tail, max(0, tail_from), len(tail))
    return start, (tail_at + m.start() if m else size)


def _marker(pattern, data, start, stop):
    """``pattern.search(data, start, stop)``, trying the regex only where a line starts with
    ``***``: a case-insensitive search of every byte was the slowest step of ``prepare``."""
    at = data.find(b"***", start, stop)
    while at >= 0:
        if (at == 0 or data[at - 1] == 10) and (m := pattern.match(data, at, stop)):
            return m
        at = data.find(b"***", at + 3, stop)
    return None


def _read_range(path, start, stop, chunk_bytes):
    left = stop - start
    with open(path, "rb") as f:
        f.seek(start)
        while left > 0:
            raw = f.read(min(chunk_bytes, left))
            left = left - len(raw) if raw else 0  # a file that shrank ends the loop
            yield raw


def _decode_chunks(chunks):
    """Decode byte chunks (universal newlines, bad bytes -> U+FFFD); returns the bad count."""
    utf8 = codecs.getincrementaldecoder("utf-8-sig")("surrogateescape")
    decoder = io.IncrementalNewlineDecoder(utf8, translate=True)
    n_bad = 0
    for raw in chunks:
        text = decoder.decode(raw)
        if not text.isascii() and not _is_encodable(text):  # escaped bad bytes inside
            text, n = _ESCAPED.subn("\ufffd", text)
            n_bad += n
        if text:
            yield text
    text = decoder.decode(b"", final=True)  # a CR or a cut character held back at the end
    if text:
        text, n = _ESCAPED.subn("\ufffd", text)
        n_bad += n
        yield text
    return n_bad


def looks_binary(head, max_odd=0.1):
    """Whether the first bytes of a file look like anything but text.

    A NUL byte, or more than `max_odd` of the characters being undecodable bytes or control
    characters other than tab, newline, carriage return and form feed, mark binary data
    (images, archives, UTF-16 text). ``prepare`` skips such files rather than train on noise.

    Examples
    --------
    >>> looks_binary(b"Call me Ishmael."), looks_binary(b"\\xff\\xd8\\xff\\xe0\\x10JFIF")
    (False, True)
    """
    if b"\0" in head:
        return True
    if head.isascii():  # the common case, at C speed: drop the text bytes, count the rest
        odd = len(head.translate(None, _ASCII_TEXT))
    else:
        odd = len(_ODD.findall(head.decode("utf-8", "surrogateescape")))
    # more than 3: one character cut at the end of `head` is no evidence
    return odd > 3 and odd > max_odd * len(head)


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
