"""How fast ``minigraph-charrnn prepare`` encodes a tree of many books (target: >= 50 MB/s).

Generates a tree of `--files` text files in a temporary directory: random excerpts of the
bundled texts (``models/data``) of about `--kb` KB each, in nested shelves of 100 files,
half of them wrapped in Project Gutenberg header and footer lines, some with bytes that are
not UTF-8, some empty, some binary (random bytes with NULs). Then runs `corpus.prepare` on
it once per `--workers` value and prints files/s, MB/s (bytes read from the tree), the CPU
time of the parent and its workers (MB per CPU-second: what the cores would give if this
run had them to itself), the peak resident memory of the parent and of the largest worker,
and the summary counts, checked against what was generated. The tree was just written, so
it is read from the page cache: this measures the encoding, not the disk. The machine is
shared, so wall times are noisy.

    python3 benchmarks/corpus_prepare.py [--files 30000] [--kb 10] [--workers 1 2]
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy is imported, or it is too late

import argparse  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from models.charrnn.corpus import open_prepared, prepare, usable_cores  # noqa: E402
from models.charrnn.corpus_encode import peak_rss  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "data")
HEADER = ("The Project Gutenberg eBook of Book {i}\n\nThis eBook is for the use of anyone "
          "anywhere.\n\n*** START OF THE PROJECT GUTENBERG EBOOK BOOK {i} ***\n")
FOOTER = ("\n*** END OF THE PROJECT GUTENBERG EBOOK BOOK {i} ***\n\nUpdated editions will "
          "replace the previous one.\n")


def make_tree(root, n_files, kb, seed=0, empty=0.002, binary=0.002, bad=0.02):
    """Write the tree; return the counts of empty, binary, bad-byte files and total bytes."""
    rng = np.random.default_rng(seed)
    text = "".join(open(os.path.join(DATA, f), encoding="utf-8").read()
                   for f in sorted(os.listdir(DATA))).encode("utf-8")
    kinds = rng.choice(4, size=n_files, p=[1 - empty - binary - bad, empty, binary, bad])
    counts, total = {"empty": 0, "binary": 0, "bad": 0}, 0
    for i, kind in enumerate(kinds):
        shelf = os.path.join(root, f"shelf-{i // 1000:03d}", f"row-{i // 100 % 10}")
        if i % 100 == 0:
            os.makedirs(shelf, exist_ok=True)
        size = int(min(rng.lognormal(np.log(kb * 1000), 0.7), len(text) // 2)) + 1
        start = int(rng.integers(0, len(text) - size))
        body = text[start:start + size]
        if kind == 1:
            body, counts["empty"] = b"", counts["empty"] + 1
        elif kind == 2:
            body = rng.integers(0, 256, size, dtype=np.uint8).tobytes() + b"\0"
            counts["binary"] += 1
        else:
            if kind == 3:
                at = int(rng.integers(0, size))
                body, counts["bad"] = body[:at] + b"\xff\xfe" + body[at:], counts["bad"] + 1
            if i % 2:
                body = HEADER.format(i=i).encode() + body + FOOTER.format(i=i).encode()
        with open(os.path.join(shelf, f"book-{i:06d}.txt"), "wb") as f:
            f.write(body)
        total += len(body)
    return counts, total


def cpu_seconds():
    """User + system CPU time of this process and of its finished workers."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                resource.getrusage(resource.RUSAGE_CHILDREN)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=30000)
    parser.add_argument("--kb", type=float, default=10.0, help="median file size")
    parser.add_argument("--workers", type=int, nargs="+", default=[usable_cores()])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"({usable_cores()} usable), Python {platform.python_version()}, "
          f"NumPy {np.__version__}")
    with tempfile.TemporaryDirectory(prefix="corpus-bench-") as tmp:
        tree = os.path.join(tmp, "books")
        t0 = time.perf_counter()
        made, total = make_tree(tree, args.files, args.kb, args.seed)
        print(f"generated {args.files:,} files, {total / 1e6:,.1f} MB in "
              f"{time.perf_counter() - t0:.1f} s: {made['empty']} empty, {made['binary']} "
              f"binary, {made['bad']} with bytes that are not UTF-8")
        for workers in args.workers:
            out = os.path.join(tmp, f"corpus-{workers}")
            cpu0 = cpu_seconds()
            s = prepare(tree, out, workers=workers)
            cpu = cpu_seconds() - cpu0
            print(f"\nprepare, {workers} worker(s): {s.seconds:.2f} s, "
                  f"{s.files / s.seconds:,.0f} files/s, {s.bytes_read / 1e6 / s.seconds:,.1f} "
                  f"MB/s; {cpu:.1f} CPU-seconds in all ({s.bytes_read / 1e6 / cpu:,.1f} MB "
                  f"per CPU-second); peak RSS: parent {peak_rss() / 2**20:,.0f} MB, largest "
                  f"worker {s.peak_rss_mb:,.0f} MB")
            print("\n".join("  " + line for line in s.lines()))
            assert s.skipped["empty"] == made["empty"] and s.skipped["binary"] == made["binary"]
            assert s.files_with_replaced_bytes == made["bad"]
            c = open_prepared(out)
            print(f"  tokens.bin: {c.ids.nbytes / 1e6:,.1f} MB ({c.ids.dtype}), "
                  f"{len(c.offsets) - 1:,} books, vocabulary {len(c.vocab)}")


if __name__ == "__main__":
    main()
