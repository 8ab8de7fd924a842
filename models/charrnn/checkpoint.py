"""Checkpoints: named NumPy arrays plus JSON metadata in one file, written atomically.

A checkpoint is a single ``.ckpt`` file, an uncompressed zip holding one ``.npy`` entry per
array and a ``header.json`` with the metadata and each array's dtype, shape and SHA-256.
One file means one ``os.replace`` publishes it: a crash, a full disk or Ctrl-C during a
save leaves the previous checkpoint as it was. Loading checks every checksum, so a
corrupted or truncated file is a `CheckpointError`, never silently wrong weights.

What goes in is up to the trainer: parameters and optimizer state as arrays; config,
vocabulary, RNG states, step, sequencer position and loss history as metadata.
`CheckpointManager` keeps ``latest.ckpt`` and ``best.ckpt`` (lowest validation loss) in a
run directory; `check_compatible` says what differs when a checkpoint does not fit a run.
"""

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass

import numpy as np

FORMAT, VERSION = "minigraph-checkpoint", 1
_HEADER = "header.json"


class CheckpointError(Exception):
    """A checkpoint that cannot be written, read, trusted or used; one line says why."""


@dataclass(frozen=True)
class Checkpoint:
    """What `load_checkpoint` returns.

    Attributes
    ----------
    arrays : dict of str -> np.ndarray
        Empty when loaded with ``arrays=False``.
    metadata : dict
    val_loss : float or None
        The validation loss it was saved with.
    path : str
    """

    arrays: dict
    metadata: dict
    val_loss: float
    path: str


def save_checkpoint(path, arrays, metadata=None, *, val_loss=None):
    """Write a checkpoint file atomically (temporary file in the same directory, then rename).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.ckpt`` file; its directory must exist.
    arrays : mapping of str -> array_like
        Names may contain ``/`` (``"adam/m/W_h"``); dtypes must not hold Python objects.
    metadata : dict, optional
        JSON-able; NumPy scalars and arrays inside are converted to numbers and lists.
    val_loss : float, optional

    Returns
    -------
    str
        The path written.

    Raises
    ------
    CheckpointError
        Bad names, object arrays, metadata that is not JSON-able, or an OS error while
        writing (the previous file at `path`, if any, is left intact).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.ckpt")
    >>> _ = save_checkpoint(path, {"W": np.eye(2)}, {"step": 3})
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.arrays["W"].tolist(), ckpt.metadata
    ([[1.0, 0.0], [0.0, 1.0]], {'step': 3})
    """
    path = os.fspath(path)
    arrays = {name: _checked_array(name, value) for name, value in dict(arrays).items()}
    header = {"format": FORMAT, "version": VERSION, "saved_at": time.time(),
              "val_loss": None if val_loss is None else float(val_loss),
              "metadata": _jsonable(metadata or {}, "metadata"),
              "arrays": {name: _describe(a) for name, a in arrays.items()}}
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=directory)
    except OSError as exc:
        raise CheckpointError(f"cannot write a checkpoint in directory '{directory}': "
                              f"{exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write_zip(f, arrays, json.dumps(header).encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())  # data on disk before the rename makes it visible
        os.replace(tmp, path)
    except OSError as exc:
        raise CheckpointError(f"could not write checkpoint '{path}': {exc.strerror or exc}; "
                              "the previous checkpoint is unchanged") from None
    finally:
        _remove(tmp)  # after an error or Ctrl-C; a no-op once renamed
    _fsync_directory(directory)
    return path


def _write_zip(f, arrays, header_bytes):
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in arrays.items():
            with zf.open(f"arrays/{name}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, a, allow_pickle=False)
        zf.writestr(_HEADER, header_bytes)


def load_checkpoint(path, *, arrays=True):
    """Read and verify a checkpoint written by `save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
    arrays : bool
        False reads only the metadata (cheap, e.g. for `check_compatible`).

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        Missing, not a checkpoint, from a newer format, truncated, or corrupted (an
        array whose SHA-256 differs from the one recorded at save time).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint file at '{path}'")
    try:
        with zipfile.ZipFile(path) as zf:
            header = json.loads(zf.read(_HEADER))
            _check_header(header, path)
            loaded = {name: _read_array(zf, name, info, path)
                      for name, info in header["arrays"].items()} if arrays else {}
    except CheckpointError:
        raise
    except Exception as exc:  # zipfile, json, npy parsing: all mean a damaged file
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise CheckpointError(f"checkpoint '{path}' is truncated or corrupted ({detail})") from None
    return Checkpoint(loaded, header["metadata"], header["val_loss"], path)


def _check_header(header, path):
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a {FORMAT} file")
    if header.get("version") != VERSION:
        raise CheckpointError(f"checkpoint '{path}' has format version {header.get('version')}"
                              f", this code reads version {VERSION}")


def _read_array(zf, name, info, path):
    with zf.open(f"arrays/{name}.npy") as entry:
        a = np.lib.format.read_array(entry, allow_pickle=False)
    if _describe(a) != info:
        raise CheckpointError(f"checkpoint '{path}' is corrupted: array '{name}' does not "
                              "match its recorded dtype, shape or checksum")
    return a


def _describe(a):
    data = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "sha256": hashlib.sha256(data).hexdigest()}


def _checked_array(name, value):
    if not (isinstance(name, str) and "\\" not in name
            and all(part not in ("", ".", "..") for part in name.split("/"))):
        raise CheckpointError(f"array name {name!r} is not a valid checkpoint name "
                              "(non-empty, '/'-separated, no '.', '..' or '\\')")
    a = np.asarray(value)
    if a.dtype.hasobject:
        raise CheckpointError(f"array '{name}' has dtype {a.dtype}, which holds Python "
                              "objects; save numbers or strings only")
    return a


def _jsonable(obj, where):
    """A JSON-ready copy of `obj`; CheckpointError names the first key that is not."""
    if isinstance(obj, dict):
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise CheckpointError(f"{where} has a non-string key {bad[0]!r}")
        return {k: _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind in "biufU":
        return _jsonable(obj.tolist(), where)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"{where} is a {type(obj).__name__}, which cannot be saved as JSON")


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_directory(directory):
    """Make the rename itself durable; some platforms cannot open a directory, and then
    the rename is still atomic, only not yet flushed."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CheckpointManager:
    """A run directory holding ``latest.ckpt`` and ``best.ckpt`` (lowest validation loss).

    Parameters
    ----------
    directory : str or os.PathLike
        Created if missing; CheckpointError names it when it cannot be created or written.

    Examples
    --------
    >>> import tempfile
    >>> manager = CheckpointManager(tempfile.mkdtemp())
    >>> manager.save({"W": np.zeros(2)}, {"step": 1}, val_loss=2.5)
    True
    >>> manager.save({"W": np.ones(2)}, {"step": 2}, val_loss=2.7)
    False
    >>> manager.load("best").metadata["step"], manager.load().metadata["step"]
    (1, 2)
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise CheckpointError(f"checkpoint directory '{self.directory}' is not writable: "
                                  f"{exc.strerror or exc}") from None
        self.latest_path = os.path.join(self.directory, "latest.ckpt")
        self.best_path = os.path.join(self.directory, "best.ckpt")
        self.best_val_loss = None
        if os.path.exists(self.best_path):
            try:
                self.best_val_loss = load_checkpoint(self.best_path, arrays=False).val_loss
            except CheckpointError as exc:  # a damaged best must not stop training
                warnings.warn(f"{exc}; it will be replaced by the next best checkpoint",
                              stacklevel=2)

    def save(self, arrays, metadata=None, *, val_loss=None):
        """Write ``latest.ckpt``; also make it ``best.ckpt`` when `val_loss` improves.

        Returns
        -------
        bool
            True when this save became the best checkpoint.
        """
        save_checkpoint(self.latest_path, arrays, metadata, val_loss=val_loss)
        if val_loss is None or not math.isfinite(val_loss) or (
                self.best_val_loss is not None and val_loss >= self.best_val_loss):
            return False
        tmp = self.best_path + ".tmp"
        try:
            _remove(tmp)
            try:
                os.link(self.latest_path, tmp)  # a second name, no copy; latest is never
            except OSError:                     # written in place, so best cannot change
                shutil.copyfile(self.latest_path, tmp)
            os.replace(tmp, self.best_path)
        except OSError as exc:
            raise CheckpointError(f"could not write checkpoint '{self.best_path}': "
                                  f"{exc.strerror or exc}") from None
        finally:
            _remove(tmp)
        self.best_val_loss = float(val_loss)
        return True

    def load(self, which="latest", *, arrays=True):
        """Load ``"latest"`` or ``"best"``; see `load_checkpoint`."""
        if which not in ("latest", "best"):
            raise ValueError(f"which must be 'latest' or 'best', not {which!r}")
        return load_checkpoint(self.latest_path if which == "latest" else self.best_path,
                               arrays=arrays)

    def exists(self, which="latest"):
        """Whether ``latest.ckpt`` (or ``best.ckpt``) has been written."""
        return os.path.exists(self.latest_path if which == "latest" else self.best_path)


class _Missing:
    def __repr__(self):
        return "nothing"


_MISSING = _Missing()


def check_compatible(checkpoint, expected, *, shapes=None):
    """Raise CheckpointError naming each difference between a checkpoint and a run.

    Parameters
    ----------
    checkpoint : Checkpoint or dict
        A loaded checkpoint, or its metadata dict.
    expected : dict
        Metadata entries that must match, compared recursively, e.g.
        ``{"vocab": vocab.to_dict(), "config": {"cell": "gru", "hidden": 512}}``.
    shapes : dict of str -> tuple, optional
        Arrays that must be present with these shapes (needs a Checkpoint with arrays).

    Examples
    --------
    >>> try:
    ...     check_compatible({"config": {"hidden": 512}}, {"config": {"hidden": 256}})
    ... except CheckpointError as exc:
    ...     print(exc)
    checkpoint does not fit this run: config.hidden: checkpoint has 512, this run has 256
    """
    is_loaded = isinstance(checkpoint, Checkpoint)
    if shapes is not None and not (is_loaded and checkpoint.arrays):
        raise ValueError("checking shapes needs a Checkpoint loaded with its arrays")
    meta = checkpoint.metadata if is_loaded else checkpoint
    diffs = []
    for key, want in _jsonable(dict(expected), "expected").items():
        _diff(meta.get(key, _MISSING), want, key, diffs)
    if shapes is not None:
        found = {n: tuple(a.shape) for n, a in checkpoint.arrays.items()}
        for name, shape in shapes.items():
            have = found.get(name, _MISSING)
            if have != tuple(shape):
                diffs.append(f"array {name}: checkpoint has {_show(have)}, this run has "
                             f"{tuple(shape)}")
        diffs += [f"array {name}: only in the checkpoint" for name in found if name not in shapes]
    if diffs:
        where = f" '{checkpoint.path}'" if is_loaded else ""
        more = f"; and {len(diffs) - 4} more" if len(diffs) > 4 else ""
        raise CheckpointError(f"checkpoint{where} does not fit this run: "
                              + "; ".join(diffs[:4]) + more)


def _diff(have, want, where, diffs):
    if isinstance(have, dict) and isinstance(want, dict):
        for key in sorted(set(have) | set(want), key=str):
            _diff(have.get(key, _MISSING), want.get(key, _MISSING), f"{where}.{key}", diffs)
    elif isinstance(have, str) and isinstance(want, str) and len(have + want) > 60:
        if have != want:  # a vocabulary's symbols: say where, not the whole strings
            at = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b),
                      min(len(have), len(want)))
            diffs.append(f"{where}: checkpoint has {len(have)} characters, this run has "
                         f"{len(want)}, first difference at index {at}")
    elif have != want:
        diffs.append(f"{where}: checkpoint has {_show(have)}, this run has {_show(want)}")


def _show(value):
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."
