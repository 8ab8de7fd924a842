"""Tests for the data pipeline (models/charrnn/{files,vocab,batches,data}.py): files, reading,
vocabulary, cache, split, sequencer.

Random inputs come from a fresh seed printed by the `rng` fixture (shown when a test fails).
"""

import json
import os
import warnings

import numpy as np
import pytest

from models.charrnn import data, files
from models.charrnn import vocab as vocab_module
from models.charrnn.data import (
    Corpus, DataError, DataWarning, MinibatchSequencer, Position, Vocabulary, iter_text,
    load_corpus, read_text, resolve_paths, split_corpus)

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED = os.path.join(HERE, "..", "..", "models", "data")
ALPHABET = list("abcdefgh XYZ.,;\n\t") + ["é", "—", "中", "😀"]




def random_text(rng, n, alphabet=ALPHABET):
    return "".join(rng.choice(alphabet, n))


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def assert_one_line_naming(excinfo, name):
    message = str(excinfo.value)
    assert name in message and "\n" not in message, message


# ------------------------------------------------------------------------- paths


def test_resolve_paths_sorts_each_entry_and_drops_duplicates(tmp_path):
    b, a = write(tmp_path / "b.txt", "b"), write(tmp_path / "a.txt", "a")
    c = write(tmp_path / "sub" / "c.md", "c")
    write(tmp_path / ".hidden", "h")
    assert resolve_paths(tmp_path) == [a, b, c]
    assert resolve_paths(str(tmp_path / "*.txt")) == [a, b]
    assert resolve_paths(str(tmp_path / "**" / "*.md")) == [c]
    assert resolve_paths([b, str(tmp_path)]) == [b, a, c]


@pytest.mark.parametrize("make, expected", [
    (lambda d: str(d / "missing.txt"), "does not exist"),
    (lambda d: (d / "empty").mkdir() or str(d / "empty"), "contains no files"),
    (lambda d: str(d / "*.nothing"), "matches no files"),
])
def test_resolve_paths_errors_name_the_path(tmp_path, make, expected):
    source = make(tmp_path)
    with pytest.raises(DataError, match=expected) as excinfo:
        resolve_paths(source)
    assert_one_line_naming(excinfo, source)
    assert isinstance(excinfo.value, ValueError)


def test_empty_file_is_a_data_error(tmp_path):
    path = write(tmp_path / "empty.txt", b"")
    with pytest.raises(DataError, match="is empty") as excinfo:
        load_corpus(path)
    assert_one_line_naming(excinfo, path)


# ----------------------------------------------------------------------- reading


GUTENBERG = ("The Project Gutenberg eBook of Foo\r\nLicense blah\r\n"
             "*** START OF THE PROJECT GUTENBERG EBOOK FOO ***\r\n{body}"
             "*** END OF THE PROJECT GUTENBERG EBOOK FOO ***\r\nMore license.\r\n")


def test_gutenberg_boilerplate_is_stripped_and_newlines_normalised(tmp_path):
    body = "Chapter 1\r\n\r\n*** END OF ACT I ***\r\nIt was.\r\n"
    path = write(tmp_path / "foo.txt", GUTENBERG.format(body=body))
    assert read_text(path) == body.replace("\r\n", "\n")
    whole = read_text(path, strip_gutenberg=False)
    assert whole.startswith("The Project") and whole.endswith("More license.\n")


def test_gutenberg_markers_with_nothing_between_are_an_error(tmp_path):
    path = write(tmp_path / "foo.txt", GUTENBERG.format(body=""))
    with pytest.raises(DataError, match="no text between") as excinfo:
        read_text(path)
    assert_one_line_naming(excinfo, path)


def test_invalid_utf8_is_replaced_and_reported_once_per_file(tmp_path):
    path = write(tmp_path / "bad.txt", b"ab\xffc\xfe\xfd" + "é!".encode())
    with pytest.warns(DataWarning, match="3 bytes of 9 are not valid UTF-8"):
        assert read_text(path) == "ab\ufffdc\ufffd\ufffdé!"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_text(path) == "ab\ufffdc\ufffd\ufffdé!"


def test_chunked_reading_equals_pythons_universal_newline_reading(tmp_path, rng):
    text = random_text(rng, 3000, ALPHABET + ["\r\n", "\r"])
    path = write(tmp_path / "t.txt", "\ufeff".encode() + text.encode())
    with open(path, encoding="utf-8-sig", newline=None) as f:
        expected = f.read()
    for chunk_bytes in (1, 2, 3, 7, 64, 1 << 20):
        assert "".join(iter_text(path, chunk_bytes)) == expected


def test_one_read_and_chunked_reading_strip_the_same_text(tmp_path, rng, monkeypatch):
    # a file up to chunk_bytes is read with one call, a larger one in chunks with the markers
    # looked for in its first and last _SCAN_BYTES: both must cut at the same places
    monkeypatch.setattr(files, "_SCAN_BYTES", 160)  # the header, the footer and a bit
    body = random_text(rng, 2000, ALPHABET + ["\r\n", "\n*** not a marker\n", "§"]) + "\r\n"
    raw = GUTENBERG.format(body=body).encode("utf-8").replace("§".encode(), b"\xff")
    path = write(tmp_path / "g.txt", raw)
    size = os.path.getsize(path)
    one, chunked = [], []
    whole = "".join(iter_text(path, size, on_bad_bytes=one.append))
    assert whole == "".join(iter_text(path, 97, on_bad_bytes=chunked.append))
    assert whole == body.replace("\r\n", "\n").replace("§", "\ufffd")
    assert one == chunked == [body.count("§")]


@pytest.mark.parametrize("head, binary", [
    (b"", False), (b"Call me Ishmael.\r\n\tSome years ago\x0c", False),
    ("Zoë, naïve café — “quoted” 日本語".encode() * 50, False),
    ("Zoë".encode("latin-1") * 30, True),  # Latin-1, not UTF-8: every ë is a bad byte
    (b"text with one \xff bad byte " * 10, False),
    (b"PK\x03\x04" + bytes(100), True), ("UTF-16 text".encode("utf-16"), True),
    (bytes(range(1, 32)) * 3, True), (b"\x1b[31mred\x1b[0m and a line of plain text " * 5, False),
])
def test_looks_binary(head, binary):
    assert files.looks_binary(head) == binary


# -------------------------------------------------------------------- vocabulary


def reference_ids(vocab, text):
    table = {c: i for i, c in enumerate(vocab.symbols)}
    return np.array([table.get(c, vocab.fallback) for c in text])


def test_from_text_is_sorted_unique_chars_and_round_trips(rng):
    text = random_text(rng, 5000)
    vocab = Vocabulary.from_text(text)
    assert vocab.symbols == "".join(sorted(set(text)))
    assert vocab.fallback == vocab.symbols.index(" ")
    for sample in (text, random_text(rng, 999, ALPHABET[:15])):  # general and ASCII paths
        ids = vocab.encode(sample)
        assert ids.dtype == np.uint8 and ids.flags.writeable
        np.testing.assert_array_equal(ids, reference_ids(vocab, sample))
        assert vocab.decode(ids) == sample


def test_latin1_vocabulary_round_trips(rng):  # decoded by a byte translation table
    text = random_text(rng, 2000, list("naïve café\n\xff"))
    vocab = Vocabulary.from_text(text)
    np.testing.assert_array_equal(vocab.encode(text), reference_ids(vocab, text))
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.decode(vocab.encode(text).astype(np.int64)) == text


def test_more_than_256_symbols_encode_to_uint16(rng):
    vocab = Vocabulary("".join(chr(0x4E00 + i) for i in range(300)), fallback=7)
    text = "".join(vocab.symbols[i] for i in rng.integers(0, 300, 2000))
    ids = vocab.encode(text)
    assert ids.dtype == np.uint16 and vocab.decode(ids) == text
    with pytest.warns(DataWarning):
        mixed = "ab" + text[:5]
        np.testing.assert_array_equal(vocab.encode(mixed), reference_ids(vocab, mixed))


def gorner_id(code):  # Gorner's convert_from_alphabet, restated
    if code == 9:
        return 1
    if code == 10:
        return 127 - 30
    return code - 30 if 32 <= code <= 126 else 0


def test_from_counts_keeps_all_or_the_commonest_characters():
    counts = {"e": 50, "t": 40, " ": 60, "z": 1, "q": 1, "\n": 10}
    assert Vocabulary.from_counts(counts) == Vocabulary.from_text("et zq\n")
    v = Vocabulary.from_counts(counts, max_symbols=4)
    assert sorted(v.symbols) == sorted(" et\ufffd") and v.symbols[v.fallback] == "\ufffd"
    with pytest.warns(DataWarning, match="3 characters outside"):
        assert v.decode(v.encode("tea\nz")) == "te\ufffd\ufffd\ufffd"
    with pytest.raises(DataError, match="max_symbols must be an integer of at least 2"):
        Vocabulary.from_counts(counts, max_symbols=1)


def test_gorner_alphabet_matches_gorner_ids():
    vocab = Vocabulary.gorner()
    assert len(vocab) == 98 and vocab.fallback == 0 and vocab.kind == "gorner"
    codes = [c for c in range(0x300) if not 0xD800 <= c < 0xE000] + [0x1F600]
    for text in ("".join(map(chr, range(128))), "".join(map(chr, codes))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            ids = vocab.encode(text)
        np.testing.assert_array_equal(ids, [gorner_id(ord(c)) for c in text])
    assert vocab.decode(range(98)) == "\ufffd\t" + "".join(map(chr, range(32, 127))) + "\n"


def test_unknown_characters_map_to_fallback_counted_and_reported_once():
    vocab = Vocabulary.from_text("abc ")
    assert vocab.fallback == 0  # the space sorts first
    assert vocab.encode("a b").tolist() == [1, 0, 2]  # the fallback symbol itself is no unknown
    with pytest.warns(DataWarning, match="2 characters outside .* 'x', 'y'"):
        assert vocab.encode("axyb").tolist() == [1, 0, 0, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vocab.encode("zzé")
    assert vocab.n_unknown == 5


def test_vocabulary_saves_as_json_and_rejects_bad_dicts():
    for vocab in (Vocabulary.gorner(), Vocabulary.from_text("hello", unknown="?")):
        back = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
        assert back == vocab and back.kind == vocab.kind
    assert Vocabulary.from_text("hello", unknown="?").fallback == 0  # '?' sorts before letters
    for bad, expected in [({"symbols": "aba", "fallback": 0}, "repeat 'a'"),
                          ({"symbols": "ab", "fallback": 2}, "fallback 2"),
                          ({"symbols": "ab"}, "'fallback'"), ({"symbols": "", "fallback": 0},
                                                               "non-empty")]:
        with pytest.raises(DataError, match=expected):
            Vocabulary.from_dict(bad)


def test_encode_and_decode_reject_bad_input():
    vocab = Vocabulary.gorner()
    with pytest.raises(TypeError, match="takes str, not bytes"):
        vocab.encode(b"abc")
    for ids, expected in [([98], "id 98 is outside"), ([-1, 3], "id -1 is outside"),
                          (np.zeros(3), "must be integers"), (np.zeros((2, 2), int), "shape")]:
        with pytest.raises(DataError, match=expected):
            vocab.decode(ids)
    with pytest.raises(DataError, match="empty text"):
        Vocabulary.from_text("")


# ------------------------------------------------------------------ corpus, cache


def two_files(tmp_path, rng):
    texts = [random_text(rng, 700), random_text(rng, 500, ALPHABET[:15])]
    return [write(tmp_path / "in" / f"{i}.txt", t) for i, t in enumerate(texts)], texts


def test_load_corpus_concatenates_files_in_order(tmp_path, rng):
    paths, texts = two_files(tmp_path, rng)
    corpus = load_corpus(str(tmp_path / "in"))
    assert corpus.vocab == Vocabulary.from_text("".join(texts))
    np.testing.assert_array_equal(corpus.ids, corpus.vocab.encode("".join(texts)))
    assert corpus.files == tuple(paths) and corpus.offsets == (0, 700, 1200)


def test_cache_is_memory_mapped_reused_and_invalidated(tmp_path, rng, monkeypatch):
    paths, texts = two_files(tmp_path, rng)
    cache = tmp_path / "cache"
    built = load_corpus(paths, cache_dir=cache, chunk_bytes=5)  # many chunks, split chars
    assert isinstance(built.ids, np.memmap) and built.cache_path.startswith(str(cache))
    np.testing.assert_array_equal(built.ids, load_corpus(paths).ids)

    def no_reading(*args, **kwargs):
        raise AssertionError("the cache should have been used")
    with monkeypatch.context() as m:
        m.setattr(data, "iter_text", no_reading)
        m.setattr(vocab_module, "iter_text", no_reading)  # the vocabulary scan reads too
        again = load_corpus(paths, cache_dir=cache)
    assert again.cache_path == built.cache_path and again.vocab == built.vocab
    np.testing.assert_array_equal(again.ids, built.ids)

    with pytest.warns(DataWarning, match="outside the gorner vocabulary"):
        gorner = load_corpus(paths, "gorner", cache_dir=cache)
    assert gorner.cache_path != built.cache_path
    with open(paths[1], "a", encoding="utf-8") as f:
        f.write("more")
    with pytest.warns(DataWarning, match="'m', 'o', 'r'"):  # not in the built vocabulary
        changed = load_corpus(paths, built.vocab, cache_dir=cache)
    assert changed.cache_path != built.cache_path and changed.offsets[-1] == 1204


def test_truncated_cache_is_rebuilt(tmp_path, rng):
    paths, _ = two_files(tmp_path, rng)
    built = load_corpus(paths, cache_dir=tmp_path / "cache")
    expected, cache_path = np.array(built.ids), built.cache_path
    del built  # release the memory map before cutting its file short
    os.truncate(cache_path, 10)
    for vocab_file in (tmp_path / "cache").glob("vocab-*.json"):
        vocab_file.write_text('{"symbols": "aa", "fallback": 0}')  # damaged: scanned again
    rebuilt = load_corpus(paths, cache_dir=tmp_path / "cache")
    assert rebuilt.cache_path == cache_path
    np.testing.assert_array_equal(rebuilt.ids, expected)


def test_unwritable_cache_dir_is_a_data_error(tmp_path, rng):
    paths, _ = two_files(tmp_path, rng)
    cache = os.path.join(paths[0], "cache")  # below a regular file: cannot be created
    with pytest.raises(DataError, match="cache directory") as excinfo:
        load_corpus(paths, cache_dir=cache)
    assert_one_line_naming(excinfo, cache)


def test_bundled_corpora_load_and_split_by_whole_files():
    shakespeare, nietzsche = (os.path.join(BUNDLED, n) for n in
                              ("tinyshakespeare.txt", "nietzsche.txt"))
    with pytest.warns(DataWarning, match="outside the gorner vocabulary"):
        corpus = load_corpus([shakespeare, nietzsche], "gorner")
    split = split_corpus(corpus)
    assert split.train_files == (shakespeare,) and split.valid_files == (nietzsche,)
    assert len(split.train) == 1115394 and np.shares_memory(split.valid, corpus.ids)


# ------------------------------------------------------------------------- split


def corpus_of(sizes):
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    ids = np.arange(offsets[-1]) % 7
    return Corpus(ids, Vocabulary("abcdefg"), tuple(f"f{i}" for i in range(len(sizes))),
                  tuple(int(o) for o in offsets))


def test_single_file_holds_out_its_last_tenth():
    corpus = corpus_of([1005])
    split = split_corpus(corpus)
    assert len(split.train) == 904  # int(1005 * 0.9), as nanoGPT cuts
    np.testing.assert_array_equal(split.valid, corpus.ids[904:])
    assert len(split_corpus(corpus, val_fraction=0).valid) == 0


@pytest.mark.parametrize("sizes, held_out", [
    ([100_000] * 10, 1),  # > 90 KiB is reached by the last file alone
    ([10] * 20, 3),       # > 10 % of 200 needs 30 characters: three files
    ([10] * 4, 1),        # Gorner would hold out nothing; we keep one file for validation
    ([5, 1000], 1),       # one for training, one for validation
])
def test_several_files_hold_out_whole_last_files(sizes, held_out):
    corpus = corpus_of(sizes)
    split = split_corpus(corpus)
    n = len(sizes)
    assert split.valid_files == corpus.files[n - held_out:]
    assert split.train_files == corpus.files[:n - held_out]
    np.testing.assert_array_equal(split.valid, corpus.ids[corpus.offsets[n - held_out]:])


def test_split_arguments_are_checked():
    corpus = corpus_of([10] * 5)
    assert split_corpus(corpus, val_files=2).valid_files == ("f3", "f4")
    for kwargs, expected in [({"val_files": 5}, "cannot hold out 5 of 5"),
                             ({"val_fraction": 1.0}, r"\[0, 1\)")]:
        with pytest.raises(DataError, match=expected):
            split_corpus(corpus, **kwargs)
    with pytest.raises(DataError, match="cannot hold out 1 of 1"):
        split_corpus(corpus_of([50]), val_files=1)


# --------------------------------------------------------------------- sequencer


def test_sequencer_hand_checked_batches():
    seq = MinibatchSequencer(np.arange(21), batch_size=2, seq_len=3, n_epochs=2)
    assert seq.steps_per_epoch == 3  # (21 - 1) // 6; ids 18..20 only serve as targets
    got = [(x.tolist(), y.tolist(), e) for x, y, e in seq]
    assert got == [
        ([[0, 1, 2], [9, 10, 11]], [[1, 2, 3], [10, 11, 12]], 0),
        ([[3, 4, 5], [12, 13, 14]], [[4, 5, 6], [13, 14, 15]], 0),
        ([[6, 7, 8], [15, 16, 17]], [[7, 8, 9], [16, 17, 18]], 0),
        ([[9, 10, 11], [0, 1, 2]], [[10, 11, 12], [1, 2, 3]], 1),  # rows rolled by the epoch
        ([[12, 13, 14], [3, 4, 5]], [[13, 14, 15], [4, 5, 6]], 1),
        ([[15, 16, 17], [6, 7, 8]], [[16, 17, 18], [7, 8, 9]], 1),
    ]
    assert seq.position == Position(2, 0) and list(seq) == []


def test_sequencer_rows_continue_across_batches_and_epochs(rng):
    n, batch, seq_len = (int(rng.integers(lo, hi)) for lo, hi in ((200, 400), (2, 6), (1, 9)))
    seq = MinibatchSequencer(np.arange(n), batch, seq_len, n_epochs=batch + 1)
    used = batch * seq_len * seq.steps_per_epoch
    batches = list(seq)
    assert len(batches) == (batch + 1) * seq.steps_per_epoch
    for (x0, _, _), (x1, y1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(y1, x1 + 1)
        follows = (x1[:, 0] == x0[:, -1] + 1) | ((x0[:, -1] == used - 1) & (x1[:, 0] == 0))
        assert follows.all()
    for epoch in range(batch + 1):  # every epoch reads each used id exactly once
        xs = [x for x, _, e in batches if e == epoch]
        np.testing.assert_array_equal(np.sort(np.concatenate(xs), axis=None), np.arange(used))


def test_sequencer_resumes_exactly_from_a_saved_position(rng, tmp_path):
    ids = rng.integers(0, 98, 5000).astype(np.uint8)
    ids.tofile(tmp_path / "ids")
    on_disk = np.memmap(tmp_path / "ids", dtype=np.uint8, mode="r")
    first = MinibatchSequencer(on_disk, 7, 11, n_epochs=3)
    stop = int(rng.integers(1, 3 * first.steps_per_epoch))
    for _ in zip(range(stop), first):
        pass
    state = json.loads(json.dumps(first.state_dict()))
    rest = [(x.tolist(), y.tolist(), e) for x, y, e in first]
    resumed = MinibatchSequencer(ids, 7, 11, n_epochs=3)
    resumed.load_state_dict(state)
    assert [(x.tolist(), y.tolist(), e) for x, y, e in resumed] == rest
    again = MinibatchSequencer(ids, 7, 11, n_epochs=3, position=(state["epoch"], state["step"]))
    assert len(list(again)) == len(rest)
    with pytest.raises(DataError, match="batch_size=7, this sequencer has batch_size=8"):
        MinibatchSequencer(ids, 8, 11).load_state_dict(state)


def test_sequencer_too_short_data_says_the_minimum():
    with pytest.raises(DataError) as excinfo:
        MinibatchSequencer(np.arange(60), batch_size=10, seq_len=6)
    message = str(excinfo.value)
    assert "has 60 characters" in message and "at least 61" in message
    assert "--batch" in message and "--seq-len" in message
    MinibatchSequencer(np.arange(61), batch_size=10, seq_len=6)  # exactly enough


@pytest.mark.parametrize("args, expected", [
    ((np.arange(100), 0, 3), "batch_size must be a positive integer"),
    ((np.arange(100), 2, "3"), "seq_len must be a positive integer"),
    ((np.zeros((10, 10), int), 2, 3), "1-D integer array"),
    ((np.zeros(100), 2, 3), "1-D integer array"),
])
def test_sequencer_rejects_bad_arguments(args, expected):
    with pytest.raises(DataError, match=expected):
        MinibatchSequencer(*args)
    with pytest.raises(DataError, match="step in 0..15"):
        MinibatchSequencer(np.arange(100), 2, 3, position=(0, 16))
