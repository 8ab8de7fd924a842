"""How fast the char-RNN data pipeline turns text into ids (target: encode >= 50 MB/s).

Times `Vocabulary.encode` / `decode` on the bundled corpora repeated to a few MB (ASCII,
Latin-1, and with em dashes so that the code-point lookup path is used), a plain
Python per-character loop on a slice of the same text (the baseline the lookup table
replaces), and the whole file -> memory-mapped cache path of `load_corpus`. Each case runs
`--repeat` times and the median is reported; ratios are taken within this one run, since
the machine is shared. Threads are pinned to 1 (NumPy's BLAS is not used here, and Numba
is not imported, but the pin keeps any library from taking the shared cores).

    python3 benchmarks/encode_speed.py [--mb 16] [--repeat 5]
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy is imported, or it is too late

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from models.charrnn.data import DataWarning, Vocabulary, load_corpus, read_text  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "data")


def median_seconds(fn, repeat):
    """Median wall time of `fn()` over `repeat` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def python_loop_encode(vocab, text):
    """The per-character dictionary loop that a lookup table replaces (the baseline)."""
    table = {c: i for i, c in enumerate(vocab.symbols)}
    return np.array([table.get(c, vocab.fallback) for c in text], dtype=vocab.dtype)


def repeated(text, megabytes):
    """`text` repeated to at least `megabytes` MB of UTF-8."""
    per_copy = len(text.encode("utf-8"))
    return text * max(1, -(-megabytes * 10**6 // per_copy))


def encode_rows(name, text, vocabs, repeat):
    """Table rows for encode, decode and the Python baseline on one text."""
    megabytes = len(text.encode("utf-8")) / 1e6
    sample = text[:1_000_000]  # the Python loop is slow: time it on 1 MB, compare per byte
    sample_mb = len(sample.encode("utf-8")) / 1e6
    rows = []
    for vocab_name, vocab in vocabs:
        base = sample_mb / median_seconds(lambda: python_loop_encode(vocab, sample), repeat)
        fast = median_seconds(lambda: vocab.encode(text), repeat)
        ids = vocab.encode(text)
        assert np.array_equal(ids[:len(sample)], python_loop_encode(vocab, sample))
        back = median_seconds(lambda: vocab.decode(ids), repeat)
        rows += [(f"encode  {name}, {vocab_name} vocab", megabytes, fast, base),
                 (f"decode  {name}, {vocab_name} vocab", megabytes, back, None),
                 (f"python loop encode  {name}, {vocab_name}", sample_mb,
                  sample_mb / base, base)]
    return rows


def pipeline_rows(text, vocab, repeat, n_files=4):
    """Rows for files -> cache (cold) and opening the cache (warm) with `load_corpus`."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        part = len(text) // n_files
        paths = []
        for i in range(n_files):
            paths.append(os.path.join(tmp, f"book{i}.txt"))
            with open(paths[-1], "w", encoding="utf-8") as f:
                f.write(text[i * part:(i + 1) * part])
        megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
        counter = iter(range(10**6))
        cold = median_seconds(
            lambda: load_corpus(paths, vocab, cache_dir=os.path.join(tmp, f"c{next(counter)}")),
            repeat)
        warm_dir = os.path.join(tmp, "warm")
        load_corpus(paths, vocab, cache_dir=warm_dir)
        warm = median_seconds(lambda: load_corpus(paths, vocab, cache_dir=warm_dir), repeat)
        scan = median_seconds(lambda: Vocabulary.from_files(paths), repeat)
        rows += [(f"files -> cache (read, encode, write), {n_files} files", megabytes, cold, None),
                 ("open cached corpus (memory map)", megabytes, warm, None),
                 ("build vocabulary from files", megabytes, scan, None)]
    return rows


def print_table(rows):
    print(f"{'case':58} {'MB':>7} {'median ms':>10} {'MB/s':>9} {'x python':>9}")
    for name, megabytes, seconds, base in rows:
        rate = megabytes / seconds
        ratio = f"{rate / base:9.1f}" if base else f"{'':>9}"
        print(f"{name:58} {megabytes:7.1f} {seconds * 1e3:10.2f} {rate:9.1f} {ratio}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=16, help="MB of text per encode case")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DataWarning)  # Gorner's alphabet lacks Nietzsche's accents
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()} with {os.cpu_count()} cores; threads pinned: "
          + ", ".join(f"{v}={os.environ[v]}" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                       "MKL_NUM_THREADS"))
          + "; numba not used; " + f"median of {args.repeat} runs after a warm-up")
    rows = []
    shakespeare, nietzsche = (read_text(os.path.join(DATA, f)) for f in
                              ("tinyshakespeare.txt", "nietzsche.txt"))
    for name, text in (("shakespeare, ASCII", shakespeare), ("nietzsche, Latin-1", nietzsche),
                       ("nietzsche with em dashes, wide", nietzsche.replace("--", "\u2014"))):
        text = repeated(text, args.mb)
        vocabs = [("text", Vocabulary.from_text(text)), ("gorner", Vocabulary.gorner())]
        rows += encode_rows(name, text, vocabs, args.repeat)
    shakespeare = repeated(shakespeare, args.mb)
    rows += pipeline_rows(shakespeare, Vocabulary.from_text(shakespeare), args.repeat)
    print_table(rows)


if __name__ == "__main__":
    main()
