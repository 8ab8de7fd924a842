"""What a char-RNN training run is given and what it ends with: `TrainConfig`, `TrainResult`.

Plain values, apart from the loop that uses them (`train.Trainer`): `TrainConfig` holds and
checks every choice of a run and is saved in each checkpoint (`to_dict` / `from_dict`), so a
resumed run is rebuilt from it; `TrainResult` is what `Trainer.run` returns. `TrainError`,
the trainer's one-line error, lives here because the config raises it too. All three are
re-exported by `train`.
"""

import os
from dataclasses import asdict, dataclass, fields

from .model import ModelConfig

_MODEL_FIELDS = ("cell", "layers", "hidden", "embed", "dropout", "dtype")


class TrainError(RuntimeError):
    """Training cannot start or go on; the message says why and what was kept."""


@dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run (saved in each checkpoint).

    Model: ``cell``, ``layers``, ``hidden``, ``embed``, ``dropout``, ``dtype`` (see
    `ModelConfig`). Data: ``corpus`` (files, directories or globs; empty = the bundled
    Shakespeare), ``vocab`` (``"text"``: the corpus's characters, ``"gorner"``: his 98
    symbols), ``val_fraction``, ``seq_len``, ``batch``. Optimisation: ``optimizer``, ``lr``,
    ``clip`` (global gradient norm, 0 = off), ``clip_value`` (per element, 0 = off),
    ``seed``. Length (whichever comes first; ``epochs`` and ``max_steps`` count from the
    start of the run, ``minutes`` from this invocation): ``epochs``, ``max_steps``,
    ``minutes``. Reporting: ``eval_every``, ``save_every`` (steps), ``progress`` (a tqdm bar).
    """

    corpus: tuple = ()
    out: str = "runs/charrnn"
    cell: str = "gru"
    layers: int = 3
    hidden: int = 512
    embed: int = 0
    dropout: float = 0.2
    dtype: str = "float32"
    vocab: str = "text"
    val_fraction: float = 0.1
    seq_len: int = 30
    batch: int = 200
    optimizer: str = "adam"
    lr: float = 1e-3
    clip: float = 5.0
    clip_value: float = 0.0
    seed: int = 0
    epochs: int = None
    max_steps: int = None
    minutes: float = None
    eval_every: int = 200
    save_every: int = 100
    device: str = "cpu"
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
        if self.vocab not in ("text", "gorner"):
            raise TrainError(f"vocab must be 'text' or 'gorner', got {self.vocab!r}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise TrainError(f"--device must be cpu, cuda or auto, got {self.device!r}")

    def model_config(self, vocab_size):
        """The `ModelConfig` of this run for a vocabulary of `vocab_size` symbols."""
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
