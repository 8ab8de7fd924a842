"""Tests for models/charrnn/corpus.py: ``prepare`` on a generated tree of small books (headers,
bad bytes, CRLF, empty, binary and unreadable files, nested directories), the exact token
stream, whole held-out books, the memory-mapped reader against in-memory data, the reset mask
at book boundaries, training on a corpus through the CLI, and clear errors for bad input.
"""

import collections
import json
import os
import textwrap

import numpy as np
import pytest

from models.charrnn import cli
from models.charrnn.batches import MinibatchSequencer, split_corpus
from models.charrnn.corpus import SKIP_REASONS, held_out, open_prepared, prepare
from models.charrnn.data import DataError, Vocabulary, load_corpus
from models.charrnn.train import SHAKESPEARE, _reset_rows
from tests.test_distributed import needs_mpi, run_job

TEXT = open(SHAKESPEARE, encoding="utf-8").read(200_000)
N_BOOKS = 300
START = "*** START OF THE PROJECT GUTENBERG EBOOK {} ***"
END = "*** END OF THE PROJECT GUTENBERG EBOOK {} ***"


def make_tree(root, rng):
    """Write the books; return {path: expected text} of the kept ones and the skip counts."""
    expected, n_bad = {}, 0
    for i in range(N_BOOKS):
        directory = os.path.join(root, f"shelf{i % 7}", f"row{i % 3}") if i % 5 else root
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"book{i:03d}.txt")
        start = int(rng.integers(0, len(TEXT) - 3000))
        body = TEXT[start:start + int(rng.integers(1, 2500))]
        if i % 11 == 0:
            body += " Zoë — ½ price"  # characters beyond ASCII, one of them beyond Latin-1
        raw = body.encode("utf-8")
        if i % 9 == 2:  # a byte that is never UTF-8, somewhere between two characters
            at = len(body[:len(body) // 2].encode("utf-8"))
            raw = raw[:at] + b"\xff" + raw[at:]
            body = body[:len(body) // 2] + "\ufffd" + body[len(body) // 2:]
            n_bad += 1
        if i % 4 == 1:
            raw = raw.replace(b"\n", b"\r\n")
        if i % 2:  # Gutenberg boilerplate around the text
            raw = (f"The Project Gutenberg eBook {i}\nLicence text.\n{START.format(i)}\n"
                   .encode() + raw + f"\n{END.format(i)}\nMore licence.\n".encode())
            body += "\n"  # the line break before the END marker belongs to the text
        with open(path, "wb") as f:
            f.write(raw)
        expected[path] = body
    bad = {"empty.txt": b"", "markers-only.txt": f"{START.format(0)}\n{END.format(0)}\n"
           .encode(), "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))}
    for name, raw in bad.items():
        with open(os.path.join(root, "shelf1", name), "wb") as f:
            f.write(raw)
    os.symlink(os.path.join(root, "nowhere"), os.path.join(root, "shelf2", "dangling.txt"))
    with open(os.path.join(root, ".hidden"), "w") as f:
        f.write("not a book")
    return expected, {"empty": 2, "binary": 1, "unreadable": 1}, n_bad


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    seed = int(np.random.SeedSequence().entropy % 2**32)
    print(f"random seed {seed} for the tree of books")
    root = str(tmp_path_factory.mktemp("books"))
    expected, skipped, n_bad = make_tree(root, np.random.default_rng(seed))
    out = str(tmp_path_factory.mktemp("corpus") / "c")
    summary = prepare(root, out, val_fraction=0.2, workers=2)
    return root, expected, skipped, n_bad, out, summary


def read_index(out):
    with open(os.path.join(out, "index.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [(split, int(offset), int(n), int(bad), path) for split, offset, n, bad, path in rows]


def test_counts_and_exact_token_stream(books):
    root, expected, skipped, n_bad, out, summary = books
    assert summary.files == N_BOOKS + 4 and summary.skipped == skipped
    assert summary.files_with_replaced_bytes == summary.replaced_bytes == n_bad
    assert summary.books["train"] + summary.books["valid"] == N_BOOKS
    corpus = open_prepared(out)
    assert isinstance(corpus.ids, np.memmap) and corpus.ids.dtype == np.uint8
    index = read_index(out)
    assert {row[4] for row in index} == set(expected)
    lengths = np.diff(corpus.offsets)
    for book, (split, offset, n, bad, path) in zip(range(len(index)), sorted(
            index, key=lambda r: (r[0] == "valid", r[1]))):
        assert lengths[book] == n == len(expected[path]), path
        assert corpus.vocab.decode(corpus.ids[corpus.offsets[book]:corpus.offsets[book + 1]]) \
            == expected[path], path
        assert bad == expected[path].count("\ufffd")
    with open(os.path.join(out, "skipped.tsv"), encoding="utf-8") as f:
        reasons = [line.split("\t")[0] for line in f][1:]
    assert sorted(reasons) == sorted(r for r, n in skipped.items() for _ in range(n))
    meta = json.load(open(os.path.join(out, "corpus.json")))
    assert meta["n_tokens"] == sum(map(len, expected.values())) == len(corpus.ids)
    assert set(corpus.vocab.symbols) == set("".join(expected.values()))


def test_held_out_books_are_whole_disjoint_and_chosen_by_path(books):
    root, expected, _, _, out, summary = books
    index = read_index(out)
    valid = {path for split, *_, path in index if split == "valid"}
    train = {path for split, *_, path in index if split == "train"}
    assert not valid & train and valid | train == set(expected)
    assert valid == {p for p in expected if held_out(os.path.relpath(p, root), 0.2)}
    assert 0 < len(valid) < len(expected) / 2
    corpus = load_corpus(out)
    split = split_corpus(corpus, val_fraction=0.5)  # the corpus's own split wins
    assert len(split.valid) == summary.tokens["valid"] == sum(len(expected[p]) for p in valid)
    text = corpus.vocab.decode(split.valid)
    for path in valid:
        assert expected[path] in text  # whole
    assert split.valid_starts[0] == 0 and len(split.valid_starts) == len(valid)


def test_workers_and_reruns_give_the_same_corpus(books, tmp_path):
    root, _, _, _, out, _ = books
    prepare(root, tmp_path / "one", val_fraction=0.2, workers=1)
    for name in ("tokens.bin", "offsets.npy", "vocab.json", "index.tsv"):
        assert open(tmp_path / "one" / name, "rb").read() == open(os.path.join(out, name),
                                                                  "rb").read(), name


def test_memmap_reader_gives_the_batches_of_in_memory_data(books):
    _, expected, _, _, out, _ = books
    corpus = load_corpus(out)
    split = split_corpus(corpus)
    train_paths = [path for split_, *_, path in read_index(out) if split_ == "train"]
    in_memory = corpus.vocab.encode("".join(expected[p] for p in train_paths))
    assert isinstance(split.train, np.memmap)
    mapped = MinibatchSequencer(split.train, 7, 61, n_epochs=2, starts=split.train_starts)
    plain = MinibatchSequencer(np.array(in_memory), 7, 61, n_epochs=2)
    n = 0
    for (x, y, e), (x2, y2, e2) in zip(mapped, plain):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
        n += 1
    assert n == 2 * mapped.steps_per_epoch


@pytest.mark.parametrize("batch, seq_len", [(1, 5), (4, 7), (9, 16)])
def test_reset_mask_marks_the_rows_where_a_book_begins(books, batch, seq_len, rng):
    corpus = load_corpus(books[4])
    split = split_corpus(corpus)
    is_start = np.zeros(len(split.train), bool)
    is_start[split.train_starts] = True
    seq = MinibatchSequencer(split.train, batch, seq_len, starts=split.train_starts)
    steps, row_len = seq.steps_per_epoch, seq.steps_per_epoch * seq_len
    # by brute force: [data row, step] -> does a book start among that step's inputs
    expected = is_start[:batch * row_len].reshape(batch, steps, seq_len).any(axis=2)
    # every step where some row resets, and as many others
    some = np.flatnonzero(expected.any(axis=0))
    check = np.unique(np.r_[some, rng.choice(steps, len(some)), steps - 1])
    for epoch in (0, 1, batch + 1):
        masks = np.array([seq.reset_mask(epoch, step) for step in check])
        rows = (np.arange(batch) + epoch) % batch
        np.testing.assert_array_equal(masks.T, expected[rows][:, check])
    assert seq.reset_mask(1, 0)[batch - 1]  # the row that wraps to the start of the data
    plain = MinibatchSequencer(np.array(split.train), batch, seq_len)
    assert not plain.reset_mask(0, 0).any()


def test_reset_rows_zeroes_only_those_rows(rng):
    for dtype in (np.float32, np.float64):
        state = rng.standard_normal((2, 5, 3)).astype(dtype)
        mask = np.array([False, True, False, False, True])
        out = _reset_rows(state, mask)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out[:, mask], 0)
        np.testing.assert_array_equal(out[:, ~mask], state[:, ~mask])
        assert _reset_rows(state, np.zeros(5, bool)) is state


def test_train_on_a_corpus_and_resume(books, tmp_path, capsys):
    out = books[4]
    run = str(tmp_path / "run")
    tiny = ["--layers", "1", "--hidden", "16", "--batch", "32", "--seq-len", "32",
            "--no-progress", "--eval-every", "3", "--save-every", "3"]
    assert cli.main(["train", out, "--out", run, "--max-steps", "3", *tiny]) == 0
    err = capsys.readouterr().err
    assert f"validating on {books[5].tokens['valid']:,}" in err
    from models.charrnn.checkpoint import load_checkpoint

    ckpt = load_checkpoint(os.path.join(run, "latest.ckpt"))
    assert ckpt.metadata["step"] == 3 and ckpt.metadata["corpus"]["files"] == [
        os.path.abspath(out)]
    loss = ckpt.arrays["history/train"][:, 2]
    assert np.isfinite(loss).all() and len(loss) == 3
    assert cli.main(["train", "--resume", run, "--max-steps", "5", "--no-progress"]) == 0
    assert load_checkpoint(os.path.join(run, "latest.ckpt")).metadata["step"] == 5


def test_vocabulary_choices(books, tmp_path):
    root, expected, _, _, _, _ = books
    s = prepare(root, tmp_path / "g", val_fraction=0.2, vocab="gorner", workers=1)
    corpus = open_prepared(tmp_path / "g")
    assert corpus.vocab == Vocabulary.gorner()
    counts = collections.Counter("".join(expected.values()))
    gorner = set(Vocabulary.gorner().symbols)
    assert s.unknown_chars == sum(n for c, n in counts.items() if c not in gorner) > 0
    s = prepare(root, tmp_path / "m", val_fraction=0.2, max_symbols=12, workers=1)
    corpus = open_prepared(tmp_path / "m")
    assert len(corpus.vocab) == 12 and "\ufffd" in corpus.vocab.symbols
    kept = set(corpus.vocab.symbols)
    assert s.unknown_chars == sum(n for c, n in counts.items() if c not in kept)
    assert " " in kept and "e" in kept  # the commonest
    path = sorted(expected)[0]
    book = [r for r in read_index(tmp_path / "m") if r[4] == path][0]
    n_train = corpus.n_train_books
    starts = corpus.offsets[:-1] if book[0] == "train" else corpus.offsets[n_train:-1]
    begin = int(corpus.offsets[0 if book[0] == "train" else n_train] + book[1])
    assert begin in starts
    text = corpus.vocab.decode(corpus.ids[begin:begin + book[2]])
    assert text == "".join(c if c in kept else "\ufffd" for c in expected[path])


def assert_cli_error(capsys, argv, *fragments):
    capsys.readouterr()
    status = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("minigraph-charrnn: error")]
    assert status == 1 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_input_gives_one_line_errors(books, tmp_path, capsys):
    root, _, _, _, out, _ = books
    tiny = ["--layers", "1", "--hidden", "8", "--batch", "2", "--seq-len", "4", "--no-progress"]
    assert_cli_error(capsys, ["prepare", tmp_path / "missing", "--out", tmp_path / "c"],
                     "does not exist")
    assert_cli_error(capsys, ["prepare", root, "--out", out], "already exists")
    assert_cli_error(capsys, ["prepare", root, "--out", tmp_path / "c", "--val-fraction", "1"],
                     "--val-fraction must be in [0, 1)")
    assert_cli_error(capsys, ["prepare", out, "--out", tmp_path / "c"], "is a prepared corpus")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.bin").write_bytes(b"\x00\x01" * 100)
    (junk / "b.txt").write_bytes(b"")
    assert_cli_error(capsys, ["prepare", junk, "--out", tmp_path / "c"], "no text in 2 files",
                     "1 empty, 1 binary")
    assert not (tmp_path / "c").exists()
    assert_cli_error(capsys, ["train", out, SHAKESPEARE, "--out", tmp_path / "r1", *tiny],
                     "give it as the only data argument")
    assert_cli_error(capsys, ["train", out, "--vocab", "gorner", "--out", tmp_path / "r2",
                              *tiny], "prepare the text with that vocabulary")


@pytest.mark.parametrize("damage, fragment", [
    (lambda d: os.unlink(d / "tokens.bin"), "is missing tokens.bin"),
    (lambda d: os.unlink(d / "corpus.json"), "has no corpus.json"),
    (lambda d: (d / "tokens.bin").write_bytes(b"abc"), "do not agree"),
    (lambda d: (d / "corpus.json").write_text(json.dumps(dict(json.loads(
        (d / "corpus.json").read_text()), version=99))), "format version 99"),
    (lambda d: (d / "corpus.json").write_text("{"), "cannot read corpus.json"),
])
def test_damaged_or_other_version_corpus_is_refused(tmp_path, capsys, damage, fragment):
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "a.txt").write_text(TEXT[:4000])
    (tmp_path / "books" / "b.txt").write_text(TEXT[4000:8000])
    prepare(tmp_path / "books", tmp_path / "c", workers=1)
    damage(tmp_path / "c")
    with pytest.raises(DataError, match=fragment):
        load_corpus(tmp_path / "c")
    assert_cli_error(capsys, ["train", tmp_path / "c", "--out", tmp_path / "run",
                              "--no-progress"], fragment.split(" ")[-1], "prepare")


def test_prepare_summary_lines_name_every_count(books):
    lines = "\n".join(books[5].lines())
    for reason in SKIP_REASONS:
        assert f"1 {reason}" in lines or f"2 {reason}" in lines
    assert "files/s" in lines and "MB/s" in lines and "held-out books" in lines


def test_the_training_loop_starts_each_new_book_from_a_zero_state(books, tmp_path):
    from models.charrnn.train import TrainConfig, Trainer

    config = TrainConfig(corpus=(books[4],), out=str(tmp_path / "run"), layers=1, hidden=8,
                         batch=16, seq_len=64, progress=False, max_steps=40)
    trainer = Trainer(config, log=lambda message: None)
    seen = {"train": [], "eval": []}

    def spy(kind, fn):
        def call(x, y, state):
            seen[kind].append(np.array(state))
            return fn(x, y, state)
        return call

    trainer.train_step = spy("train", trainer.train_step)
    trainer.eval_step = spy("eval", trainer.eval_step)
    masks = []
    for _ in range(40):
        masks.append(trainer.batches.reset_mask(*trainer.batches.position))
        trainer._train_one()
    masks = np.array(masks)
    assert masks[1:].any() and not masks[1:].all()
    for step in range(1, 40):
        state = seen["train"][step]
        assert not state[:, masks[step]].any(), step  # reset rows enter with zeros
        assert np.abs(state[:, ~masks[step]]).min() > 0, step  # the others carry theirs
    trainer.evaluate(max_batches=20)
    valid = MinibatchSequencer(trainer.split.valid, len(seen["eval"][0][0]), 64, n_epochs=1,
                               starts=trainer.split.valid_starts)
    resets = 0
    for step, state in enumerate(seen["eval"][1:], 1):
        mask = valid.reset_mask(0, step)
        assert not state[:, mask].any() and np.abs(state[:, ~mask]).min() > 0, step
        resets += mask.sum()
    assert len(seen["eval"]) == 20 and resets > 0


MPI_WORKER = textwrap.dedent('''
    import sys
    import numpy as np
    from minigraph import distributed
    from models.charrnn.train import TrainConfig, Trainer

    corpus, out = sys.argv[1], sys.argv[2]
    W, r = distributed.size(), distributed.rank()
    t = Trainer(TrainConfig(corpus=(corpus,), out=f"{out}/run-{W}", layers=1, hidden=8,
                            seq_len=8, batch=4 // W, dropout=0.0, dtype="float64", lr=0.05,
                            max_steps=12, eval_every=6, save_every=6, progress=False))
    resets = sum(int(t.batches.reset_mask(0, s).sum()) for s in range(12))
    t.run()
    np.savez(f"{out}/{W}-{r}.npz", **t.model.arrays(), state=t.state, resets=resets)
''')


@needs_mpi
@pytest.mark.slow  # two jobs that compile the model
def test_two_ranks_on_a_corpus_train_like_one_process(tmp_path):
    # books of 20-80 characters: in 12 steps of 8 most of the 4 rows cross a boundary
    rng = np.random.default_rng(5)
    (tmp_path / "books").mkdir()
    for i in range(80):
        start = int(rng.integers(0, len(TEXT) - 100))
        (tmp_path / "books" / f"{i:02d}.txt").write_text(TEXT[start:start + rng.integers(20,
                                                                                       80)])
    prepare(tmp_path / "books", tmp_path / "corpus", val_fraction=0.2, workers=1)
    (tmp_path / "worker.py").write_text(MPI_WORKER)
    args = [str(tmp_path / "worker.py"), str(tmp_path / "corpus"), str(tmp_path)]
    for n in (None, 2):
        rc, out = run_job(args, n=n)
        assert rc == 0, out
    one = dict(np.load(tmp_path / "1-0.npz"))
    ranks = [dict(np.load(tmp_path / f"2-{r}.npz")) for r in (0, 1)]
    assert one["resets"] == ranks[0]["resets"] >= 4
    np.testing.assert_allclose(np.concatenate([r["state"] for r in ranks], axis=1),
                               one["state"], rtol=1e-9, atol=1e-12)
    for key in one:
        if key not in ("state", "resets"):
            np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
            np.testing.assert_allclose(ranks[0][key], one[key], rtol=1e-9, atol=1e-12,
                                       err_msg=key)
