"""Training the char-RNN: the loop, validation, checkpoints, exact resume, Ctrl-C and NaN.

`TrainConfig` holds every choice of a run; `Trainer` builds the corpus, the model and its
compiled functions, then runs the loop: one compiled train step per batch, the final hidden
state of a batch fed in as the initial state of the next (each row of a batch continues the
same row of the previous one; on a corpus made by ``prepare``, a row where a new book
begins starts from zeros: `MinibatchSequencer.reset_mask`), validation every ``eval_every``
steps, and an atomic checkpoint every ``save_every`` steps and after each validation
(``best.ckpt`` follows the lowest validation loss).

A checkpoint holds everything the next step depends on: parameters, optimizer state, the
carried hidden state, the dropout generators, the sequencer's position and the history. So
``Trainer.resume(out)`` continues exactly: the same losses as a run never stopped.
Ctrl-C finishes the step under way, saves and returns; a NaN loss stops the run and leaves the
last good checkpoint in place. Problems are raised as `TrainError` (or the data and checkpoint
modules' errors), each with a one-line message. `TrainConfig`, `TrainResult` and `TrainError`
are defined in `config` and re-exported here. Launched by ``mpiexec -n W``, the run is
data-parallel over W ranks (`parallel.Shard`; ``docs/distributed.md``): ``batch`` rows per
rank, one all-reduce per step, rank 0 alone logs and writes checkpoints.
"""

import collections
import csv
import math
import os
import signal
import time
from dataclasses import replace

import numpy as np

from minigraph import distributed

from .checkpoint import CheckpointError, CheckpointManager, check_compatible
from .config import TrainConfig, TrainError, TrainResult, resumable_options
from .data import DataError, MinibatchSequencer, Vocabulary, load_corpus, split_corpus
from .model import CharRNN, ModelConfig, ModelError  # noqa: F401 (ModelConfig re-exported)
from .parallel import Shard

BUNDLED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SHAKESPEARE = os.path.join(BUNDLED, "tinyshakespeare.txt")
# what may differ when resuming: how long to go on, and how often to report
_RESUMABLE = (*resumable_options(), "progress")


class Trainer:
    """A training run: corpus, model, compiled functions, checkpoints and the loop.

    Parameters
    ----------
    config : TrainConfig
    log : callable
        Receives one-line progress messages (default: print to stderr).

    Raises
    ------
    TrainError, DataError, CheckpointError, ModelError
        One-line messages: a run already in ``config.out``, unreadable or too short corpus,
        unwritable directory, bad settings.
    """

    def __init__(self, config, log=None, _checkpoint=None):
        self.shard = shard = Shard(config.batch)
        self.config, self.log = config, (log or _stderr) if shard.is_root else _quiet
        self._setup_device()
        self.manager = CheckpointManager(config.out)
        if _checkpoint is None and self.manager.exists():
            raise TrainError(f"'{config.out}' already holds a training run; continue it with "
                             f"--resume {config.out}, or choose another --out")
        vocab = Vocabulary.from_dict(_checkpoint.metadata["vocab"]) if _checkpoint else (
            "gorner" if config.vocab == "gorner" else None)
        files = _checkpoint.metadata["corpus"]["files"] if _checkpoint else (
            config.corpus or [SHAKESPEARE])
        with distributed.rank_zero_first():  # the others then read the cache rank 0 wrote
            self.corpus = load_corpus(files, vocab, cache_dir=os.path.join(config.out, "cache"))
        self.vocab = self.corpus.vocab
        self.split = split_corpus(self.corpus, config.val_fraction)
        try:  # all W*B rows, as one process with batch W*B would cut them; this rank's below
            self.batches = MinibatchSequencer(self.split.train, config.batch * shard.world,
                                              config.seq_len, n_epochs=config.epochs,
                                              starts=self.split.train_starts)
        except DataError as exc:
            raise DataError(f"corpus too short: the training text (the first "
                            f"{1 - config.val_fraction:.0%} of {len(self.corpus):,} characters) "
                            f"is too short for one batch: {exc}") from None
        self.model = CharRNN(config.model_config(len(self.vocab)), seed=config.seed)
        self.train_step = self.model.compile_train(config.optimizer, config.lr, config.clip,
                                                   config.clip_value,
                                                   reduce=shard.reduce(config.dtype))
        self.eval_step = self.model.compile_eval()
        shard.seed_dropout(self.model, config.seed)
        self._agreed = None  # the stop every rank agreed on in the last step's all-reduce
        self.state = self.model.initial_state(config.batch)
        self.step, self.chars, self.elapsed = 0, 0, 0.0
        self.train_log, self.valid_log = [], []  # rows [step, chars, loss, acc] / [step, loss, acc]
        self.saved_step, self._bar, self._recent = None, None, collections.deque(maxlen=50)
        if _checkpoint is not None:
            self._restore(_checkpoint)
        else:  # equal already (same seed); made certain, as a user's own model would be
            distributed.broadcast_parameters(list(self.model.params.values())
                                             + list(self.model.optimizer_state.values()))
        shard.check_consistent(self.model)

    # ---- building

    @classmethod
    def resume(cls, out, log=None, **overrides):
        """Continue the run saved in `out` from its ``latest.ckpt``.

        Parameters
        ----------
        out : str
        **overrides
            New values for ``epochs``, ``max_steps``, ``minutes``, ``eval_every``,
            ``save_every`` or ``progress``; the rest comes from the checkpoint.
        """
        bad = sorted(set(overrides) - set(_RESUMABLE))
        if bad:
            raise TrainError(f"cannot change {', '.join(bad)} when resuming; only "
                             f"{', '.join(_RESUMABLE)}")
        path = os.path.join(os.fspath(out), "latest.ckpt")

        def read():
            if not os.path.exists(path):
                raise TrainError(f"nothing to resume: '{path}' does not exist")
            from .checkpoint import load_checkpoint

            return load_checkpoint(path)

        ckpt = Shard(0).on_root(read)
        if "train" not in ckpt.metadata:
            raise TrainError(f"'{path}' is not a char-RNN training checkpoint")
        config = replace(TrainConfig.from_dict(ckpt.metadata["train"]), out=os.fspath(out),
                         **overrides)
        return cls(config, log, _checkpoint=ckpt)

    def _setup_device(self):
        from minigraph.config import config as mg_config

        if self.config.device != "cpu":
            import kernels

            try:
                kernels.select_backend(None, self.config.device)
            except RuntimeError as exc:
                raise TrainError(str(exc)) from None
        mg_config.device = self.config.device

    def _restore(self, ckpt):
        meta, arrays = ckpt.metadata, ckpt.arrays
        check_compatible(ckpt, {"model": self.model.config.to_dict(),
                                "vocab": self.vocab.to_dict()})
        self.shard.check_world(meta, ckpt.path)
        try:
            self.model.load_arrays(arrays)
            self.model.set_rng_state(meta["rng_ranks"][self.shard.rank] if self.shard.enabled
                                     else meta["rng"])
            want = (self.state.shape[0], self.config.batch * self.shard.world,
                    *self.state.shape[2:])
            if arrays["state/H"].shape != want:
                raise ModelError(f"state/H has shape {arrays['state/H'].shape}, the run needs "
                                 f"{want}")
            self.state = self.shard.local_state(arrays["state/H"]).astype(
                self.model.config.dtype)
            self.step, self.chars, self.elapsed = meta["step"], meta["chars"], meta["elapsed"]
            self.train_log = arrays["history/train"].tolist()
            self.valid_log = arrays["history/valid"].tolist()
            sequencer = meta["sequencer"]
        except (ModelError, KeyError) as exc:
            what = f"{exc} is missing" if isinstance(exc, KeyError) else exc
            raise CheckpointError(f"checkpoint '{ckpt.path}' does not fit this run: "
                                  f"{what}") from None
        self.batches.load_state_dict(sequencer)
        self.saved_step = self.step
        self.log(f"resuming {self.config.out} at step {self.step} (epoch "
                 f"{self.batches.position.epoch})")

    # ---- the loop

    def run(self):
        """Train until a limit, Ctrl-C or an error; return a `TrainResult`.

        Raises
        ------
        TrainError
            The loss became NaN or infinite; the last good checkpoint is kept.
        """
        cfg = self.config
        self.log(f"training a {cfg.layers}x{cfg.hidden} {cfg.cell.upper()} "
                 f"({self.model.n_params():,} parameters, vocabulary {len(self.vocab)}) on "
                 f"{len(self.split.train):,} characters, validating on "
                 f"{len(self.split.valid):,}; checkpoints in {cfg.out}")
        stop = _StopFlag()
        reason = "done"
        t_start = time.perf_counter()
        bar = self._bar = self._progress_bar()
        try:
            # the loss itself is checked each step: NumPy's overflow warnings add nothing
            with stop, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                while True:
                    reason = self._limit_reached(t_start) or self._stop_asked(stop)
                    if reason:
                        break
                    if self.shard.enabled:  # each rank's wishes ride in the step's all-reduce
                        self.shard.set_wishes(self._time_up(t_start), stop.set)
                    loss = self._train_one()
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix_str(f"loss {loss:.3f}, {self._rate():,.0f} chars/s")
                    if self.step % cfg.eval_every == 0:
                        self._validate_and_save()
                    elif self.step % cfg.save_every == 0:
                        self._save()
        finally:
            if bar is not None:
                bar.close()
            self._bar = None
        validated = bool(self.valid_log) and self.valid_log[-1][0] == self.step
        if reason != "interrupted" and not validated:
            self._validate_and_save()  # also when a --save-every checkpoint fell on this step
        elif self.saved_step != self.step:
            self._save()
        distributed.barrier()  # no rank leaves (and exits) before rank 0 has saved
        return self._result(reason)

    def _train_one(self):
        epoch, step = self.batches.position
        x, y = self.batches.batch(epoch, step)
        x, y = self.shard.take(x), self.shard.take(y)
        self.state = _reset_rows(self.state, self.shard.take(self.batches.reset_mask(epoch, step)))
        t0 = time.perf_counter()
        loss, acc, state, *flags = self.train_step(x.astype(np.int32), y.astype(np.int32),
                                                   self.state)
        if flags:
            self._agreed = Shard.agreed(flags[0])
        loss, acc = float(loss), float(acc)
        if not math.isfinite(loss):
            self._diverged(f"the loss is {loss}")
        dt = time.perf_counter() - t0
        self.elapsed += dt
        self._recent.append(dt)
        self.state = state
        self.step += 1
        self.chars += x.size * self.shard.world
        self.batches.seek(*_next(epoch, step, self.batches.steps_per_epoch))
        self.train_log.append([self.step, self.chars, loss, acc])
        return loss

    def _diverged(self, what):
        kept = (f"the last good checkpoint is {self.manager.latest_path} (step "
                f"{self.saved_step})" if self.saved_step is not None else
                "no checkpoint had been written yet")
        raise TrainError(f"{what} at step {self.step + 1}: training stopped; {kept}; try a "
                         f"smaller --lr or --clip")

    def _limit_reached(self, t_start):
        cfg = self.config
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return "done"
        if cfg.epochs is not None and self.batches.position.epoch >= cfg.epochs:
            return "done"
        if not self.shard.enabled and self._time_up(t_start):  # ranks agree on it instead
            return "time"
        return None

    def _time_up(self, t_start):
        minutes = self.config.minutes
        return minutes is not None and time.perf_counter() - t_start >= 60 * minutes

    def _stop_asked(self, stop):
        """Ctrl-C (one process), or the stop all ranks agreed on after the last step."""
        if self.shard.enabled:
            return self._agreed
        return "interrupted" if stop.set else None

    def _rate(self):
        """Characters per second over the last steps (the first, compiling, one drops out)."""
        seconds, cfg = sum(self._recent), self.config
        chars = cfg.batch * self.shard.world * cfg.seq_len * len(self._recent)  # all ranks'
        return chars / seconds if seconds > 0 else 0.0

    def _say(self, message):
        if self._bar is not None:
            self._bar.write(message)
        else:
            self.log(message)

    def _progress_bar(self):
        if not self.config.progress or not self.shard.is_root:
            return None
        from tqdm import tqdm

        cfg = self.config
        total = cfg.max_steps
        if cfg.epochs is not None:
            by_epochs = cfg.epochs * self.batches.steps_per_epoch
            total = by_epochs if total is None else min(total, by_epochs)
        return tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True,
                    desc="train")

    # ---- validation and checkpoints

    def evaluate(self, max_batches=None):
        """Mean validation loss and accuracy over the held-out text, from a zero state.

        Returns ``(nan, nan)`` when there is no validation text. With W ranks the text is cut
        into W times as many rows and each rank evaluates its own; the per-batch means are
        averaged over the ranks in one all-reduce (every rank must call this).
        """
        cfg, world = self.config, self.shard.world
        n = len(self.split.valid)
        batch = min(cfg.batch * world, (n - 1) // cfg.seq_len) if n > cfg.seq_len else 0
        batch -= batch % world  # the same number of rows on every rank
        if batch < 1:
            return float("nan"), float("nan")
        seq = MinibatchSequencer(self.split.valid, batch, cfg.seq_len, n_epochs=1,
                                 starts=self.split.valid_starts)
        rows = Shard(batch // world).take
        state, losses, accs = self.model.initial_state(batch // world), [], []
        for i, (x, y, _) in enumerate(seq):
            if max_batches is not None and i >= max_batches:
                break
            state = _reset_rows(state, rows(seq.reset_mask(0, i)))
            loss, acc, state = self.eval_step(rows(x).astype(np.int32),
                                              rows(y).astype(np.int32), state)
            losses.append(float(loss))
            accs.append(float(acc))
        losses, accs = self.shard.mean_over_ranks([losses, accs])
        return float(np.mean(losses)), float(np.mean(accs))

    def _validate_and_save(self):
        val_loss, val_acc = self.evaluate()
        if math.isfinite(val_loss):
            self.valid_log.append([self.step, val_loss, val_acc])
            train = np.mean([r[2] for r in self.train_log[-self.config.eval_every:]])
            self._say(f"step {self.step}: train loss {train:.4f}, validation loss "
                     f"{val_loss:.4f} nats/char, accuracy {val_acc:.3f}")
        self._save(val_loss if math.isfinite(val_loss) else None)

    def _save(self, val_loss=None):
        bad = [n for n, v in self.model.params.items()
               if not np.isfinite(v.get_value(borrow=True)).all()]
        if bad:
            self._diverged(f"parameter {bad[0]} is no longer finite")
        self.shard.check_consistent(self.model)  # rank 0's copy is the one saved
        state, rngs = self.shard.gather(self.state, self.model.rng_state())
        if not self.shard.is_root:
            self.saved_step = self.step
            return
        arrays = self.model.arrays()
        arrays["state/H"] = state
        arrays["history/train"] = np.array(self.train_log, dtype=np.float64).reshape(-1, 4)
        arrays["history/valid"] = np.array(self.valid_log, dtype=np.float64).reshape(-1, 3)
        meta = {"train": self.config.to_dict(), "model": self.model.config.to_dict(),
                "vocab": self.vocab.to_dict(), "sequencer": self.batches.state_dict(),
                "step": self.step, "chars": self.chars, "elapsed": self.elapsed,
                "rng": self.model.rng_state(),
                "corpus": {"files": [os.path.abspath(f) for f in self.corpus.files],
                           "n_ids": len(self.corpus)}}
        if self.shard.enabled:  # absent from one-process checkpoints, which stay as they were
            meta.update(world_size=self.shard.world, rng_ranks=rngs)
        self.manager.save(arrays, meta, val_loss=val_loss)
        self.saved_step = self.step
        write_history_csv(os.path.join(self.config.out, "loss.csv"), self.train_log,
                          self.valid_log)

    def _result(self, reason):
        last = self.train_log[-1][2] if self.train_log else float("nan")
        val = self.valid_log[-1][1] if self.valid_log else float("nan")
        best = self.manager.best_val_loss
        return TrainResult(reason, self.step, self.batches.position.epoch, last, val,
                           float("nan") if best is None else best, self.manager.latest_path)


def _reset_rows(state, mask):
    """Zero the carried state ``(layers, batch, S)`` of the rows where a new book begins."""
    if not mask.any():
        return state
    return np.where(mask[None, :, None], np.zeros((), state.dtype), state)


def _next(epoch, step, steps_per_epoch):
    return (epoch + 1, 0) if step + 1 == steps_per_epoch else (epoch, step + 1)


def _quiet(message):
    """The log of ranks other than 0: rank 0 speaks for the run."""


def _stderr(message):
    import sys

    print(message, file=sys.stderr, flush=True)


class _StopFlag:
    """Turns the first Ctrl-C into a flag the loop reads between steps (so the step under way
    finishes and the state saved is consistent); a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.set, self._previous = False, None

    def _handler(self, signum, frame):
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def write_history_csv(path, train_log, valid_log):
    """Write ``step,chars,train_loss,train_acc,val_loss,val_acc`` rows (validation where run)."""
    valid = {int(s): (loss, acc) for s, loss, acc in valid_log}
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "chars", "train_loss", "train_acc", "val_loss", "val_acc"])
            for step, chars, loss, acc in train_log:
                v = valid.get(int(step), ("", ""))
                w.writerow([int(step), int(chars), f"{loss:.5f}", f"{acc:.4f}", *v])
        os.replace(tmp, path)
    except OSError as exc:
        raise TrainError(f"cannot write '{path}': {exc.strerror or exc}") from None
