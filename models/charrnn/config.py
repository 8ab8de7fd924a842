"""What a char-RNN training run is given and what it ends with: `TrainConfig`, `TrainResult`.

Plain values, apart from the loop that uses them (`train.Trainer`): `TrainConfig` holds and
checks every choice of a run and is saved in each checkpoint (`to_dict` / `from_dict`), so a
resumed run is rebuilt from it; `TrainResult` is what `Trainer.run` returns. `TrainError`,
the trainer's one-line error, lives here because the config raises it too. All three are
re-exported by `train`.

`TrainConfig` is also the one source of the ``train`` command line: each field's metadata
holds its help text (and choices), ``cli.build_parser`` makes one option per such field and
shows the field's default. So this module imports the standard library only: the command
line is read before NumPy loads, because ``--threads`` must pin OpenBLAS first.
"""

import os
from dataclasses import asdict, dataclass, field, fields

CELLS = ("gru", "lstm", "rnn")
OPTIMIZERS = ("adam", "sgd", "momentum", "rmsprop")
VOCABS = ("text", "gorner")
DEVICES = ("cpu", "cuda", "auto")
_MODEL_FIELDS = ("cell", "layers", "hidden", "embed", "dropout", "dtype")


class TrainError(RuntimeError):
    """Training cannot start or go on; the message says why and what was kept."""


def option(default, help, choices=None, resumable=False):
    """A `TrainConfig` field that is also a ``train`` option ``--name-with-dashes``.

    Parameters
    ----------
    default
        The field's default, shown in ``--help``.
    help : str
        The option's help text, without the default.
    choices : tuple or None
        The values argparse accepts.
    resumable : bool
        Whether ``train --resume`` may change it (how long to go on, how often to report).

    Examples
    --------
    >>> from dataclasses import fields
    >>> f = {f.name: f for f in fields(TrainConfig)}["lr"]
    >>> f.default, f.metadata["help"]
    (0.001, 'learning rate')
    """
    return field(default=default, metadata={"help": help, "choices": choices,
                                            "resumable": resumable})


def options(cls=None):
    """The fields of a config class (`TrainConfig` by default) that are command-line
    options, in declaration order.

    Examples
    --------
    >>> [f.name for f in options()][:3]
    ['cell', 'layers', 'hidden']
    """
    return [f for f in fields(cls or TrainConfig) if "help" in f.metadata]


def resumable_options():
    """Names of the options ``train --resume`` may change (the rest the checkpoint fixes)."""
    return tuple(f.name for f in options() if f.metadata["resumable"])


@dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run (saved in each checkpoint).

    Model: ``cell``, ``layers``, ``hidden``, ``embed``, ``dropout``, ``dtype`` (see
    `ModelConfig`). Data: ``corpus`` (files, directories or globs, or one directory made by
    ``prepare``; empty = the bundled Shakespeare), ``vocab`` (``"text"``: the corpus's
    characters, ``"gorner"``: his 98 symbols), ``val_fraction``, ``seq_len``, ``batch``.
    Optimisation: ``optimizer``, ``lr``, ``clip`` (global gradient norm, 0 = off),
    ``clip_value`` (per element, 0 = off), ``seed``. Length (whichever comes first;
    ``epochs`` and ``max_steps`` count from the start of the run, ``minutes`` from this
    invocation): ``epochs``, ``max_steps``, ``minutes``. Reporting: ``eval_every``,
    ``save_every`` (steps), ``progress`` (a tqdm bar).

    Fields made with `option` are the ``train`` command's options, with their help text.
    """

    corpus: tuple = ()
    out: str = "runs/charrnn"
    cell: str = option("gru", "recurrent cell: the fused GRU kernels; lstm and rnn run "
                       "through scan", CELLS)
    layers: int = option(3, "recurrent layers")
    hidden: int = option(512, "units per layer")
    embed: int = option(0, "embedding width; 0 = one-hot input")
    dropout: float = option(0.2, "drop probability after each layer; Gorner's pkeep 0.8 = 0.2")
    dtype: str = "float32"
    vocab: str = option("text", "the corpus's characters, or Gorner's 98 ASCII symbols",
                        VOCABS)
    val_fraction: float = option(0.1, "held-out fraction of a one-file corpus")
    seq_len: int = option(30, "characters per sequence")
    batch: int = option(200, "sequences per batch")
    optimizer: str = option("adam", "update rule", OPTIMIZERS)
    lr: float = option(1e-3, "learning rate")
    clip: float = option(5.0, "largest global gradient norm; 0 = off")
    clip_value: float = option(0.0, "clip each gradient element to +-this; 0 = off")
    seed: int = option(0, "seeds weights and dropout")
    epochs: int = option(None, "stop after this many epochs", resumable=True)
    max_steps: int = option(None, "stop after this many steps (counted from the start of the "
                            "run)", resumable=True)
    minutes: float = option(None, "stop after this many minutes of this invocation",
                            resumable=True)
    eval_every: int = option(200, "validate and save every N steps", resumable=True)
    save_every: int = option(100, "save every N steps", resumable=True)
    device: str = option("cpu", "where the kernels run; auto = CUDA when present", DEVICES)
    progress: bool = True

    def __post_init__(self):
        object.__setattr__(self, "corpus", tuple(os.fspath(c) for c in self.corpus))
        for name in ("epochs", "max_steps", "minutes"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and v > 0):
                raise TrainError(f"--{name.replace('_', '-')} must be positive, got {v!r}")
        for name in ("eval_every", "save_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise TrainError(f"--{name.replace('_', '-')} must be a positive integer")
        if self.vocab not in VOCABS:
            raise TrainError(f"vocab must be 'text' or 'gorner', got {self.vocab!r}")
        if self.device not in DEVICES:
            raise TrainError(f"--device must be cpu, cuda or auto, got {self.device!r}")

    def model_config(self, vocab_size):
        """The `ModelConfig` of this run for a vocabulary of `vocab_size` symbols."""
        from .model import ModelConfig  # here, not above: the model module loads NumPy

        return ModelConfig(vocab_size=vocab_size,
                           **{name: getattr(self, name) for name in _MODEL_FIELDS})

    def to_dict(self):
        d = asdict(self)
        d["corpus"] = list(self.corpus)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "corpus" else v) for k, v in d.items() if k in known})


@dataclass(frozen=True)
class PrepareConfig:
    """The choices of ``prepare`` (`corpus.prepare`): how a tree of books becomes a corpus."""

    val_fraction: float = option(0.05, "share of the books held out whole for validation "
                                 "(chosen by a hash of each path)")
    vocab: str = option("text", "every character of the kept books, or Gorner's 98 ASCII "
                        "symbols", VOCABS)
    max_symbols: int = option(None, "keep only the commonest characters, plus U+FFFD for the "
                              "rest (default: all)")
    workers: int = option(None, "processes encoding in parallel (default: the usable cores)")


@dataclass
class TrainResult:
    """What `Trainer.run` ends with.

    ``reason`` is ``"done"`` (a length limit was reached), ``"interrupted"`` (Ctrl-C; saved)
    or ``"time"`` (``minutes`` ran out).
    """

    reason: str
    step: int
    epoch: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    checkpoint: str
