"""How good the char-RNN gets in a fixed CPU budget: validation loss on tinyshakespeare.

Trains ``minigraph-charrnn train`` on the bundled Shakespeare (the last 10% held out, nanoGPT's
split) for ``--minutes`` of wall time (default 30; validation passes count against it), then
prints the validation curve against wall-clock minutes, in nats and bits per character, and a
sample written by the best checkpoint. References: nanoGPT's character-level Shakespeare model
reaches 1.47 nats/char on a GPU, char-rnn-style LSTMs 1.4-1.5; the target here is < 1.60.

The model options are the CLI's (default: Gorner's 3 x GRU-512, sequences of 30, batches of
200, dropout 0.2, Adam 1e-3, gradient norm clipped at 5); anything after ``--`` goes to
``minigraph-charrnn train`` as it is. The run directory keeps the checkpoints, ``loss.csv``,
the loss-curve picture and ``curve.csv`` (this table).

    python3 benchmarks/charrnn_quality.py [--minutes 30] [--threads 2] [--eval-every 100]
                                          [--out runs/quality] [-- --hidden 256 ...]
"""

import argparse
import csv
import math
import os
import re
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TARGET = 1.60  # nats per character
_LINE = re.compile(r"step (\d+): train loss ([\d.]+), validation loss ([\d.]+) nats/char, "
                   r"accuracy ([\d.]+)")


def train(args, extra):
    """Run the CLI; return the validation rows (minutes, step, train, valid, accuracy)."""
    cmd = [sys.executable, "-m", "models.charrnn", "--threads", str(args.threads), "train",
           "--out", args.out, "--minutes", str(args.minutes), "--eval-every",
           str(args.eval_every), "--no-progress", *extra]
    print("$ " + " ".join(cmd), flush=True)
    rows, t0 = [], time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        sys.stderr.write(line)
        m = _LINE.search(line)
        if m:
            step, tr, va, acc = int(m[1]), float(m[2]), float(m[3]), float(m[4])
            rows.append(((time.perf_counter() - t0) / 60, step, tr, va, acc))
    if proc.wait():
        sys.exit(f"training failed (exit status {proc.returncode})")
    return rows


def sample(args):
    cmd = [sys.executable, "-m", "models.charrnn", "generate", "--checkpoint", args.out,
           "-n", "600", "--prime", "ROMEO:", "--temperature", "0.8", "--seed", "1"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--out", default=os.path.join("runs", "quality"))
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.out = os.path.abspath(args.out)
    rows = train(args, extra)
    if not rows:
        sys.exit("no validation pass ran: raise --minutes or lower --eval-every")
    print(f"\nvalidation on the last 10% of tinyshakespeare, {args.minutes:g} minutes, "
          f"{args.threads} thread(s), options: {' '.join(extra) or 'CLI defaults'}")
    print(f"{'minutes':>8} {'step':>6} {'train':>7} {'valid':>7} {'bits/char':>9} {'acc':>6}")
    for minutes, step, tr, va, acc in rows:
        print(f"{minutes:8.1f} {step:6d} {tr:7.4f} {va:7.4f} {va / math.log(2):9.3f} {acc:6.3f}")
    best = min(r[3] for r in rows)
    print(f"final {rows[-1][3]:.4f}, best {best:.4f} nats/char (target < {TARGET}: "
          f"{'met' if best < TARGET else 'not met'})")
    with open(os.path.join(args.out, "curve.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["minutes", "step", "train_loss", "val_loss", "val_acc"])
        w.writerows(rows)
    print("\nsample (best checkpoint, prime 'ROMEO:', temperature 0.8, seed 1):\n" + sample(args))


if __name__ == "__main__":
    main()
