"""``minigraph-charrnn``: train, generate, draw, and the one-command demo.

    minigraph-charrnn prepare DIR [DIR ...] --out CORPUS [--val-fraction 0.05 --workers N]
    minigraph-charrnn train [FILES ... | CORPUS] --out DIR [--cell gru --layers 3 ...]
    minigraph-charrnn train --resume DIR [--max-steps N | --minutes M | --epochs E]
    minigraph-charrnn generate --checkpoint DIR -n 1000 --prime "ROMEO:" --temperature 0.8
    minigraph-charrnn graph --checkpoint DIR --out model.svg
    minigraph-charrnn demo [--minutes 3] [--out runs/demo]

Every expected failure (missing, empty or too short corpus, unwritable directory, damaged or
mismatched checkpoint, prime text outside the vocabulary, NaN loss) ends with one line on
stderr and exit status 1, never a traceback; Ctrl-C during training saves first and exits
with 130. NumPy, Numba and minigraph are imported only after the arguments are read, so that
``--threads`` can pin OpenBLAS before it starts.
"""

import argparse
import os
import sys
import time
import warnings

from .config import PrepareConfig, TrainConfig, options, resumable_options

PROG = "minigraph-charrnn"
DEMO = dict(cell="gru", layers=2, hidden=256, seq_len=50, batch=64, dropout=0.1,
            eval_every=250, save_every=250)


def build_parser():
    """The argument parser of all subcommands."""
    parser = argparse.ArgumentParser(prog=PROG, description="Train and sample a "
                                     "character-level RNN built with minigraph.")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and Numba threads "
                        f"(default: the cores this process may use, at most {MAX_THREADS})")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model (default corpus: bundled Shakespeare)",
                       formatter_class=_DefaultsFormatter)
    t.add_argument("corpus", nargs="*", help="text files, directories or globs, or one "
                   "corpus directory made by prepare")
    _shown(t.add_argument("--out", help="run directory"), TrainConfig.out)
    t.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR exactly")
    add_config_options(t)
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = sub.add_parser("generate", help="write text with a trained model",
                       formatter_class=_DefaultsFormatter)
    g.add_argument("--checkpoint", required=True, help="run directory or .ckpt file")
    g.add_argument("-n", type=int, default=1000, help="characters to generate")
    g.add_argument("--prime", default="", help="text the model reads first")
    g.add_argument("--temperature", type=float, default=1.0,
                   help="divides the logits: below 1 safer, above 1 wilder")
    g.add_argument("--top-k", type=int, default=0,
                   help="draw among the k likeliest characters; 0 = all")
    g.add_argument("--seed", type=int, default=None, help="seeds the draws (default: fresh)")
    g.add_argument("--argmax", action="store_true", help="always take the likeliest char")
    g.add_argument("--which", choices=("best", "latest"), default="best",
                   help="the checkpoint with the lowest validation loss, or the last one")
    d = sub.add_parser("graph", help="draw the model's graph (SVG, PNG, PDF or DOT)",
                       formatter_class=_DefaultsFormatter)
    d.add_argument("--checkpoint", required=True, help="run directory or .ckpt file")
    d.add_argument("--out", default="model.svg", help="output file; its extension picks the "
                   "format")
    d.add_argument("--function", choices=("eval", "step", "train"), default="eval",
                   help="which compiled function to draw (eval: the forward pass + loss)")
    d.add_argument("--stage", choices=("after", "before", "both"), default="after",
                   help="the graph after the compiler's rewrites, before, or both")
    m = sub.add_parser("demo", help="train a small model for a few minutes, then generate, "
                       "draw the graph and the loss curve", formatter_class=_DefaultsFormatter)
    m.add_argument("--minutes", type=float, default=3.0, help="training time")
    m.add_argument("--out", default=os.path.join("runs", "demo"), help="run directory; an "
                   "existing demo run there trains on")
    m.add_argument("--seed", type=int, default=0, help="seeds weights and dropout")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = sub.add_parser("prepare", help="encode a tree of text files once into a corpus that "
                       "train memory-maps", formatter_class=_DefaultsFormatter)
    r.add_argument("sources", nargs="+", metavar="DIR", help="directories (every file below), "
                   "files or globs")
    r.add_argument("--out", required=True, help="the corpus directory to create")
    add_config_options(r, PrepareConfig)
    for p in (t, g, d, m, r):
        p.set_defaults(func=globals()[f"cmd_{p.prog.split()[-1]}"])
    return parser


def add_config_options(parser, cls=TrainConfig):
    """One ``--name`` option per field of `cls` made with ``config.option``.

    Help text, choices and type come from the field; the argparse default stays None so that
    ``train --resume`` can tell which options were given, and ``--help`` shows the field's
    default instead (`_DefaultsFormatter`).
    """
    for f in options(cls):
        flag = "--" + f.name.replace("_", "-")
        action = parser.add_argument(flag, type=f.type, choices=f.metadata["choices"],
                                     help=f.metadata["help"])
        _shown(action, f.default)


def _shown(action, default):
    action.shown_default = default
    return action


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in the help, except None and False (options that are off unless
    given); an option may name another default to show (``shown_default``: a config field's,
    where the argparse default must stay None)."""

    def _get_help_string(self, action):
        default = getattr(action, "shown_default", action.default)
        if not action.help or default is None or default is False or default in ("",
                                                                               argparse.SUPPRESS):
            return action.help
        return f"{action.help} (default: {str(default).replace('%', '%%')})"


def main(argv=None):
    """Run the command line; returns the exit status (0 fine, 1 error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    status = _main(args)
    if status not in (0, 130) and _launched_ranks() > 1:  # the others may wait in a collective
        # (130: every rank agreed to stop; ending them now could cut rank 0's last save short)
        from minigraph import distributed

        distributed.abort(status)
    return status


def _launched_ranks():
    """Ranks started by mpiexec (its environment; nothing imported before --threads)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):  # see minigraph.distributed
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def _main(args):
    if args.threads is None:  # one thread per rank under mpiexec: ranks share the cores
        args.threads = 1 if _launched_ranks() > 1 else default_threads()
    if args.threads < 1:
        return _fail("--threads must be at least 1")
    _pin_threads(args.threads)
    tune_malloc()
    expected = _expected_errors()
    with warnings.catch_warnings():  # restores the warning printer afterwards
        warnings.showwarning = _warning_line
        try:
            return args.func(args) or 0
        except BrokenPipeError:  # `generate | head`: the reader left, nothing is wrong
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit flush
            return 0
        except expected as exc:
            return _fail(exc)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130


def _fail(message):
    text = " ".join(str(message).split()) or type(message).__name__
    rank = os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK")
    where = f" (rank {rank})" if _launched_ranks() > 1 and rank else ""
    if where and rank != "0":  # an error of every rank: rank 0's abort ends this one before
        time.sleep(1.0)        # it repeats the line; an error of this rank alone still shows
    print(f"{PROG}: error{where}: {text}", file=sys.stderr)
    return 1


def tune_malloc(threshold=1 << 20):
    """Serve arrays above `threshold` bytes by mmap, returned to the system when freed.

    glibc raises this threshold after each large free, after which the large activations of
    a train step are carved from a heap that never shrinks: Gorner's model then peaks near
    700 MB instead of about 540 MB. Setting it once stops the drift (no effect off glibc).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, int(threshold))  # -3 = M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


MAX_THREADS = 8  # beyond this the char-RNN's GEMMs are too small to split further


def default_threads():
    """The cores this process may run on, at most `MAX_THREADS`.

    With idle OpenMP workers sleeping (``kernels.quiet_idle_threads``), both cores of a
    2-core machine pay off for training: Gorner's 3 x 512 model trains at 5,806 characters/s
    on two threads against 3,451 on one, the small 1 x 256 model at 46,733 against 42,987.
    Batch-1 generation is bound by reading the weights, and ran at 2,587 characters/s on two
    threads and 2,586 on one (``benchmarks/charrnn.py``, one run).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def _pin_threads(n):
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = str(n)  # read once, when NumPy loads its BLAS: must come first
    # kernels sets the idle policy of Numba's OpenMP threads on import, which must come
    # before set_num_threads starts them: started first, they spun against OpenBLAS and the
    # 3 x 512 model trained at 1,250 characters/s on 2 threads instead of 5,600
    import kernels

    kernels.set_threads(n)


def _expected_errors():
    from minigraph.graph.basic import GraphError

    from .checkpoint import CheckpointError
    from .data import DataError
    from .generate import GenerateError
    from .model import ModelError
    from .train import TrainError

    return (DataError, CheckpointError, ModelError, TrainError, GenerateError, GraphError,
            OSError)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """Data repairs (replaced bytes, unknown characters) as one stderr line each."""
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


# ---------------------------------------------------------------------------- train


def cmd_train(args):
    """``train``: a new run, or ``--resume DIR``."""
    from .train import Trainer

    given = {f.name: getattr(args, f.name) for f in options()
             if getattr(args, f.name) is not None}
    progress = not args.no_progress
    if args.resume:
        fixed = sorted(set(given) - set(resumable_options())) + (["corpus"] if args.corpus
                                                                 else [])
        if fixed or (args.out and os.path.abspath(args.out) != os.path.abspath(args.resume)):
            what = ", ".join("--" + k.replace("_", "-") for k in fixed) or "--out"
            free = ", ".join("--" + k.replace("_", "-") for k in resumable_options())
            return _fail(f"{what} cannot be changed when resuming (the checkpoint fixes them); "
                         f"only {free}")
        trainer = Trainer.resume(args.resume, progress=progress, **given)
    else:
        config = TrainConfig(corpus=tuple(args.corpus), out=args.out or TrainConfig.out,
                             progress=progress, **given)
        trainer = Trainer(config)
    return _finish(trainer, trainer.run())


def _finish(trainer, result):
    """Rank 0 reports; under mpiexec the others wait for it, since a rank that exits 130
    (interrupted) makes ``python -m mpi4py`` abort the job, rank 0's report with it."""
    from minigraph import distributed

    status = _report(trainer, result) if trainer.shard.is_root else (
        130 if result.reason == "interrupted" else 0)
    distributed.barrier()
    return status


def _report(trainer, result):
    out = trainer.config.out
    write_loss_plot(out, trainer.train_log, trainer.valid_log)
    print(f"step {result.step} (epoch {result.epoch}): train loss {result.train_loss:.4f}, "
          f"validation loss {result.val_loss:.4f} (best {result.best_val_loss:.4f}) "
          f"nats/char; checkpoint {result.checkpoint}", file=sys.stderr)
    if result.reason == "interrupted":
        world = trainer.shard.world
        again = f"mpiexec -n {world} python -m mpi4py -m models.charrnn" if world > 1 else PROG
        print(f"{PROG}: interrupted: saved step {result.step}; continue with: {again} train "
              f"--resume {out}", file=sys.stderr)
        return 130
    return 0


# -------------------------------------------------------------------------- prepare


def cmd_prepare(args):
    """``prepare``: encode a tree of books into a corpus directory; print the counts."""
    from .corpus import prepare

    given = {f.name: getattr(args, f.name) for f in options(PrepareConfig)}
    summary = prepare(args.sources, args.out, **{k: v if v is not None else
                                                 getattr(PrepareConfig, k)
                                                 for k, v in given.items()})
    print("\n".join([f"corpus written to {args.out}", *summary.lines(),
                     f"train on it with: {PROG} train {args.out} --out RUN"]))
    return 0


# ------------------------------------------------------------------------- generate


def cmd_generate(args):
    """``generate``: stream text from a checkpoint."""
    from .generate import Sampler, load_model

    model, vocab, _ = load_model(args.checkpoint, args.which)
    sampler = Sampler(model, vocab)
    chars = sampler.generate(args.n, args.prime, args.temperature, args.top_k, args.argmax,
                             args.seed)
    first = next(chars, "")  # raises on a bad prime before anything is printed
    out = sys.stdout
    out.write(args.prime + first)
    out.flush()
    for c in chars:
        out.write(c)
        out.flush()
    out.write("\n")
    return 0


# ---------------------------------------------------------------------------- graph


def cmd_graph(args):
    """``graph``: draw one of the model's compiled functions."""
    from .generate import load_model

    model, _, ckpt = load_model(args.checkpoint, "latest")
    path = draw_graph(model, args.out, args.function, args.stage, ckpt.metadata.get("train"))
    print(f"graph of the {args.function} function written to {path}", file=sys.stderr)
    return 0


def draw_graph(model, out, function="eval", stage="after", train=None):
    """Draw ``model``'s ``eval``, ``step`` or ``train`` function to `out` (format from the
    extension); without Graphviz or `minigraph.pydot`, write ``debugprint`` text instead."""
    train = train or {}
    fn = (model.compile_eval() if function == "eval" else model.compile_step()
          if function == "step" else model.compile_train(
              train.get("optimizer", "adam"), train.get("lr", 1e-3), train.get("clip", 5.0),
              train.get("clip_value", 0.0)))
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    try:
        from minigraph.printing import pydotprint

        return pydotprint(fn, outfile=out, stage=stage, print_output_file=False)
    except ImportError:
        from minigraph.printing import debugprint

        path = os.path.splitext(out)[0] + ".txt"
        with open(path, "w") as f:
            debugprint(fn, file=f)
        return path


# ----------------------------------------------------------------------------- demo


def cmd_demo(args):
    """``demo``: train a small model on Shakespeare, then generate and draw."""
    from .generate import Sampler, load_model
    from .train import Trainer

    progress = not args.no_progress
    if os.path.exists(os.path.join(args.out, "latest.ckpt")):
        print(f"{args.out} already holds a demo run: training it {args.minutes:g} more "
              f"minutes", file=sys.stderr)
        trainer = Trainer.resume(args.out, minutes=args.minutes, max_steps=None, epochs=None,
                                 progress=progress)
    else:
        trainer = Trainer(TrainConfig(out=args.out, minutes=args.minutes, seed=args.seed,
                                      progress=progress, **DEMO))
    status = _finish(trainer, trainer.run())
    model, vocab, _ = load_model(args.out, "best")
    text = "".join(Sampler(model, vocab).generate(500, "ROMEO:", 0.8, seed=1))
    print("\n--- 500 characters from the model, primed with 'ROMEO:' ---\nROMEO:" + text + "\n")
    graph = draw_graph(model, os.path.join(args.out, "model.svg"))
    plot = write_loss_plot(args.out, trainer.train_log, trainer.valid_log)
    print(f"graph: {graph}\nloss curve: {plot} (numbers in {os.path.join(args.out, 'loss.csv')})"
          f"\ncheckpoints: {args.out}/best.ckpt, {args.out}/latest.ckpt", file=sys.stderr)
    return status


# ------------------------------------------------------------------------ loss plot


def write_loss_plot(out, train_log, valid_log):
    """Draw the loss curve: ``loss.png`` with matplotlib when installed (``pip install
    minigraph[plot]``), else ``loss.svg`` written by hand. Returns the path."""
    if not train_log:
        return None
    steps = [r[0] for r in train_log]
    smooth = _running_mean([r[2] for r in train_log], max(1, len(train_log) // 50))
    valid = ([r[0] for r in valid_log], [r[1] for r in valid_log])
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg_plot(os.path.join(out, "loss.svg"), steps, smooth, valid)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, smooth, label="train (running mean)")
    ax.plot(*valid, "o-", label="validation")
    ax.set(xlabel="step", ylabel="loss (nats/char)", title="char-RNN loss")
    ax.legend()
    path = os.path.join(out, "loss.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _running_mean(values, k):
    import numpy as np

    c = np.cumsum(np.r_[0.0, values])
    return [float((c[i + 1] - c[max(0, i + 1 - k)]) / min(k, i + 1)) for i in range(len(values))]


def _svg_plot(path, steps, train, valid, w=640, h=360, pad=48):
    """A small SVG line chart: train (blue) and validation (orange) loss against steps."""
    ys = list(train) + list(valid[1])
    x0, x1, y0, y1 = min(steps), max(max(steps), min(steps) + 1), min(ys), max(ys)
    y1 = y1 if y1 > y0 else y0 + 1

    def pts(xs, vs):
        return " ".join(f"{pad + (x - x0) / (x1 - x0) * (w - 2 * pad):.1f},"
                        f"{h - pad - (v - y0) / (y1 - y0) * (h - 2 * pad):.1f}"
                        for x, v in zip(xs, vs))

    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<polyline points="{pts(steps, train)}" fill="none" stroke="#1f77b4"/>',
             f'<polyline points="{pts(*valid)}" fill="none" stroke="#ff7f0e" stroke-width="2"/>',
             f'<text x="{pad}" y="{pad - 20}">char-RNN loss (nats/char): train (blue), '
             f'validation (orange)</text>',
             f'<text x="{pad}" y="{h - pad + 30}">step {x0:g}</text>',
             f'<text x="{w - pad}" y="{h - pad + 30}" text-anchor="end">step {x1:g}</text>',
             f'<text x="4" y="{pad}">{y1:.2f}</text><text x="4" y="{h - pad}">{y0:.2f}</text>',
             f'<path d="M{pad},{pad} V{h - pad} H{w - pad}" fill="none" stroke="#444"/>',
             "</svg>"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
