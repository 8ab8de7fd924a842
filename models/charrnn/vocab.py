"""The char-RNN's `Vocabulary`: characters <-> integer ids, encoded with lookup tables.

Kept apart from reading the files (`files`) and from caching the encoded corpus (`data`)
because it is the one piece the model needs at generation time too, and it is saved in
every checkpoint (`Vocabulary.to_dict` / `from_dict`). Encoding is vectorised: a byte
translation table for text below U+0100, a code-point table for the rest.
"""

import warnings

import numpy as np

from .files import CHUNK_BYTES, DataError, DataWarning, iter_text, resolve_paths

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
    def from_counts(cls, counts, max_symbols=None, unknown="\ufffd"):
        """The characters of a corpus counted by ``prepare``: all of them, or the commonest.

        Parameters
        ----------
        counts : dict
            Character -> how often it occurs.
        max_symbols : int or None
            None keeps every character, sorted, as `from_text` does. Otherwise the
            ``max_symbols - 1`` commonest characters (ties: the lower code point) and
            `unknown`, which the rest encode to, sorted.
        unknown : str
            The symbol standing for the dropped characters.

        Examples
        --------
        >>> v = Vocabulary.from_counts({"a": 5, "b": 1, "c": 3, "d": 1}, max_symbols=3)
        >>> v.symbols[:2], v.symbols[2] == "\\ufffd", v.encode("abd").tolist()
        ('ac', True, [0, 2, 2])
        """
        chars = [c for c, n in counts.items() if n > 0]
        if max_symbols is None or len(chars) <= max_symbols:
            return cls._from_chars(chars, None)
        if not isinstance(max_symbols, int) or max_symbols < 2:
            raise DataError(f"max_symbols must be an integer of at least 2, got {max_symbols!r}")
        chars.sort(key=lambda c: (-counts[c], ord(c)))
        return cls._from_chars([c for c in chars if c != unknown][:max_symbols - 1], unknown)

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
        raw = one_byte_per_char(text)
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


def one_byte_per_char(text):
    """`text` as Latin-1 bytes (ASCII included) when every code point is below 256, else None.

    Examples
    --------
    >>> one_byte_per_char("café"), one_byte_per_char("€")
    (b'caf\\xe9', None)
    """
    if text.isascii():  # O(1) in CPython: a string knows its widest character
        return text.encode("ascii")
    try:
        return text.encode("latin-1")  # C speed; fails fast enough on wider text
    except UnicodeEncodeError:
        return None


def code_points(text):
    """The code points of `text` as an array: uint8 when all are below 256, else uint32.

    Examples
    --------
    >>> code_points("hé").tolist(), code_points("hé").dtype.name, code_points("h€").dtype.name
    ([104, 233], 'uint8', 'uint32')
    """
    raw = one_byte_per_char(text)
    if raw is not None:
        return np.frombuffer(raw, np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4")


def _charset(text):
    """The set of characters in `text`, counted with NumPy rather than a Python loop."""
    return {chr(c) for c in np.flatnonzero(np.bincount(code_points(text)))}
