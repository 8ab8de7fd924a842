"""Tests for models/charrnn/corpus_encode.py: a task's own ids, the corpus-wide ids written as
tasks arrive (widened from uint8 to uint16 past 256 characters), files met twice.
"""

import os

import numpy as np
import pytest

from models.charrnn import corpus_encode
from models.charrnn.corpus import open_prepared, prepare
from models.charrnn.corpus_encode import _LocalIds, tasks


@pytest.mark.parametrize("count", [False, True])
def test_local_ids_number_characters_as_they_first_appear(count, rng):
    table = _LocalIds(count)
    texts = ["banana", "cab", "zoë€", "abc" * 50, "".join(map(chr, rng.integers(32, 2000, 300)))]
    seen = []
    for text in texts:
        ids = table.encode(text)
        for c in text:  # sorted within a chunk, then in order of chunks
            if c not in seen:
                seen.append(c)
        assert "".join(table.symbols[i] for i in ids) == text
    assert sorted(table.symbols) == sorted(seen) and len(set(table.symbols)) == len(seen)
    assert table.symbols[:3] == ["a", "b", "n"]
    if count:
        joined = "".join(texts)
        assert table.counts.tolist() == [joined.count(c) for c in table.symbols]


def test_more_than_256_characters_widen_the_token_file(tmp_path, monkeypatch, rng):
    # three tasks of two files (in this process); the third brings 300 new characters after
    # uint8 ids were written, so tokens.bin is widened to uint16 on the way
    monkeypatch.setattr(corpus_encode, "TASK_FILES", 2)
    monkeypatch.setattr(corpus_encode, "COPY_IDS", 7)  # the rewrite goes block by block
    texts = {f"b{i}.txt": "the quick brown fox " * (i + 1) for i in range(4)}
    texts["c0.txt"] = "".join(map(chr, 0x4E00 + rng.permutation(300)))
    texts["c1.txt"] = "fox ⚡ " * 3
    (tmp_path / "books").mkdir()
    for name, text in texts.items():
        (tmp_path / "books" / name).write_text(text, encoding="utf-8")
    summary = prepare(tmp_path / "books", tmp_path / "c", val_fraction=0.0, workers=1)
    corpus = open_prepared(tmp_path / "c")
    assert corpus.ids.dtype == np.uint16 and len(corpus.vocab) == summary.vocab_size > 256
    decoded = corpus.vocab.decode(corpus.ids)
    assert decoded == "".join(texts[name] for name in sorted(texts))
    assert corpus.offsets.tolist() == np.cumsum([0] + [len(texts[n]) for n in sorted(texts)]
                                                ).tolist()
    # keeping the 20 commonest characters rewrites tokens.bin once more, to uint8
    summary = prepare(tmp_path / "books", tmp_path / "m", val_fraction=0.0, workers=1,
                      max_symbols=20)
    pruned = open_prepared(tmp_path / "m")
    assert pruned.ids.dtype == np.uint8 and len(pruned.vocab) == 20
    kept = set(pruned.vocab.symbols)
    assert pruned.vocab.decode(pruned.ids) == "".join(c if c in kept else "\ufffd"
                                                      for c in decoded)
    assert summary.unknown_chars == sum(c not in kept for c in decoded) > 250


def test_tasks_skip_a_file_met_twice_and_keep_unreadable_ones(tmp_path):
    (tmp_path / "a.txt").write_text("x" * 10)
    os.link(tmp_path / "a.txt", tmp_path / "hard.txt")
    os.symlink(tmp_path / "a.txt", tmp_path / "soft.txt")
    books = [(str(tmp_path / n), False) for n in ("a.txt", "hard.txt", "soft.txt", "gone")]
    assert [p for t in tasks(books) for p, _ in t] == [books[0][0], books[3][0]]


def test_large_books_read_in_chunks_give_the_same_corpus(tmp_path, monkeypatch, rng):
    # books above CHUNK_BYTES go through files.iter_text chunk by chunk, the rest are read
    # with one call: make every book "large" and compare
    (tmp_path / "books").mkdir()
    words = ["the ", "naïve ", "fox\r\n", "zoë ", "\xff", "—", "\n"]
    for i in range(6):
        body = "".join(rng.choice(words, 400)).encode("utf-8").replace(b"\xc3\xbf", b"\xff")
        if i % 2:
            body = (b"Header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n" + body
                    + b"\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nFooter\n")
        (tmp_path / "books" / f"{i}.txt").write_bytes(body)
    (tmp_path / "books" / "only-markers.txt").write_bytes(
        b"*** START OF THE PROJECT GUTENBERG EBOOK X ***\n"
        b"*** END OF THE PROJECT GUTENBERG EBOOK X ***\n")
    small = prepare(tmp_path / "books", tmp_path / "small", val_fraction=0.3, workers=1)
    monkeypatch.setattr(corpus_encode, "CHUNK_BYTES", 64)
    large = prepare(tmp_path / "books", tmp_path / "large", val_fraction=0.3, workers=1)
    assert small.skipped == large.skipped == {"empty": 1, "binary": 0, "unreadable": 0}
    assert (small.replaced_bytes, small.tokens) == (large.replaced_bytes, large.tokens)
    assert small.replaced_bytes > 0
    for name in ("tokens.bin", "offsets.npy", "vocab.json", "index.tsv"):
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "large" / name
                                                            ).read_bytes(), name
