"""Incremental reindex: reused postings, exactly the scores of a cold build of the same corpus."""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import BUNDLED_CORPUS, write
from hypothesis import given, settings
from hypothesis import strategies as st

from askbot.search import build as build_module
from askbot.search import corpus as corpus_module
from askbot.search import incremental, pruning, residency, tokenize_parallel
from askbot.search import index as index_module
from askbot.search.analysis import Analyzer
from askbot.search.index import ArticleInfo, BM25Params, Index, article_line, relocated
from askbot.search.store import IndexSpec, Opened, build_and_save, compare

A = Analyzer()
WORDS = (
    "harbour ferry council budget river bridge school teacher storm rain farmers harvest price "
    "market minister election vote court judge museum painting festival music league match "
    "goal coach hospital doctor vaccine railway station airport flight police report"
).split()


def _line(article_id: str, seed: int, extra: str = "") -> str:
    rng = np.random.default_rng(seed)
    paragraphs = [
        " ".join(rng.choice(WORDS, size=int(rng.integers(8, 30))).tolist()).capitalize() + "."
        for _ in range(int(rng.integers(2, 5)))
    ]
    if extra:
        paragraphs.append(extra)
    record = {"id": article_id, "title": f"News {article_id}", "text": "\n\n".join(paragraphs)}
    return json.dumps(record)


def _jsonl(path: Path, lines: list[str]) -> None:
    write(path, "\n".join(lines) + "\n")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The bundled articles plus two JSONL files of 40 generated articles each."""
    root = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, root)
    for f in range(2):
        lines = [_line(f"g{f}-{i}", 100 * f + i) for i in range(40)]
        if f == 0:  # one word only this article has: it disappears when the article goes
            lines[5] = _line("g0-5", 5, "A quixotry of pelicans landed.")
        _jsonl(root / f"bulk-{f}.jsonl", lines)
    return root


def _build(corpus: Path, root: Path, *, full: bool = False, **kw: object) -> Opened:
    spec = IndexSpec(corpus, root, **kw)  # type: ignore[arg-type]
    return build_and_save(spec, A, full_rebuild=full)


def _change(corpus: Path) -> None:
    """Edit, add and remove articles in both kinds of file."""
    bulk = corpus / "bulk-0.jsonl"
    lines = bulk.read_text().splitlines()
    lines[3] = _line("g0-3", 9999, "The zanzibarite ferry sank near the harbour.")  # changed
    del lines[5]  # removed, with the only "quixotry"
    lines.insert(10, _line("g0-new", 4242))  # added mid-file: later lines move down
    _jsonl(bulk, lines)
    (corpus / "wikinews" / "crane.md").unlink()
    write(corpus / "added.md", "Added story\n\nA brand new harbour ferry story, said Mayor Vo.")
    seed = corpus / "pompeo-hopeful-us-north-korea-dialogue.txt"
    seed.write_text(seed.read_text() + "\n\nA closing paragraph about the harbour.\n")


def _by_passage(index: Index) -> dict[str, dict[str, float]]:
    """term -> {passage id: weight}: every passage's score for every query follows from it."""
    out: dict[str, dict[str, float]] = {}
    ids = [index.passage_id(d) for d in range(index.n_docs)]
    for t, term in enumerate(index.terms):
        s, e = int(index.indptr[t]), int(index.indptr[t + 1])
        out[term] = {
            ids[d]: w
            for d, w in zip(index.docs[s:e].tolist(), index.term_weights(t).tolist(), strict=True)
        }
    return out


def _assert_same_scores(a: Index, b: Index) -> None:
    assert a.n_docs == b.n_docs and a.avgdl == b.avgdl
    assert a.terms == b.terms
    np.testing.assert_array_equal(a.df, b.df)
    np.testing.assert_array_equal(a.idf, b.idf)
    assert _by_passage(a) == _by_passage(b)


def test_reindex_gives_every_passage_the_cold_build_score(corpus: Path, tmp_path: Path) -> None:
    """After edits, additions and removals, weights per (term, passage id) equal a cold build."""
    old = _build(corpus, tmp_path / "idx")
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    cold = _build(corpus, tmp_path / "cold", full=True)
    assert new.index.meta["reindexed_from"] == old.index.key
    assert "reindexed_from" not in cold.index.meta
    _assert_same_scores(Index.load(new.path), cold.index)
    for question in ("zanzibarite ferry", "harbour council vote", "mayor vo said"):
        terms = A.terms(question)
        by_id = dict(
            zip(
                map(new.index.passage_id, range(new.index.n_docs)),
                new.index.get_scores(terms),
                strict=True,
            )
        )
        cold_scores = cold.index.get_scores(terms)
        assert {cold.index.passage_id(d): s for d, s in enumerate(cold_scores)} == by_id


def test_reindexed_passages_keep_the_cold_build_texts(corpus: Path, tmp_path: Path) -> None:
    """Kept texts (copied from the saved texts.bin) and new ones, by passage id, as a cold build."""
    _build(corpus, tmp_path / "idx")
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    cold = _build(corpus, tmp_path / "cold", full=True)
    for index in (new.index, Index.load(new.path)):
        texts = {index.passage_id(d): index.text(d) for d in range(index.n_docs)}
        assert texts == {
            cold.index.passage_id(d): cold.index.text(d) for d in range(cold.index.n_docs)
        }


def _texts_by_id(index: Index) -> dict[str, str]:
    return {index.passage_id(d): index.text(d) for d in range(index.n_docs)}


def test_a_reindex_keeps_the_saved_texts_and_writes_only_the_new_ones(
    corpus: Path, tmp_path: Path
) -> None:
    """The saved texts.bin is shared (one inode), not copied; texts.1.bin holds just the
    texts of the new and changed articles' passages."""
    old = _build(corpus, tmp_path / "idx")
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    assert (new.path / "texts.bin").stat().st_ino == (old.path / "texts.bin").stat().st_ino
    assert new.index.meta["text_files"] == 2
    before = old.index.content_hashes()
    analysed = {a for a, h in new.index.content_hashes().items() if before.get(a) != h}
    fresh = [d for d in range(new.index.n_docs) if new.index.article_of(d).id in analysed]
    fresh_bytes = sum(len(new.index.text(d).encode()) for d in fresh)
    assert fresh and (new.path / "texts.1.bin").stat().st_size == fresh_bytes


def test_texts_stay_right_over_reindexes_and_are_copied_into_one_file_in_the_end(
    corpus: Path, tmp_path: Path
) -> None:
    """Reindex after reindex, every passage has a cold build's text; once there would be too
    many text files, the kept texts are copied into one file again."""
    _build(corpus, tmp_path / "idx")
    counts = []
    for round_ in range(incremental.MAX_TEXT_FILES + 1):
        bulk = corpus / "bulk-1.jsonl"
        lines = bulk.read_text().splitlines()
        del lines[2 * round_]  # removed: its text stays behind, unused, in a saved file
        lines[round_ + 10] = _line(f"g1-{round_ + 10}", 700 + round_, f"Round {round_} news.")
        lines.append(_line(f"r{round_}", 800 + round_))
        _jsonl(bulk, lines)
        new = _build(corpus, tmp_path / "idx")
        assert "reindexed_from" in new.index.meta
        counts.append(new.index.meta["text_files"])
        cold = _build(corpus, tmp_path / f"cold{round_}", full=True)
        assert _texts_by_id(new.index) == _texts_by_id(cold.index)
    assert counts == [2, 3, 4, 1, 2]


@pytest.mark.parametrize("dead_limit", [0.01, 0.99])
def test_texts_are_copied_into_one_file_only_when_much_of_the_saved_ones_is_unused(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_limit: float
) -> None:
    """Removing articles leaves their texts unused in the saved file: past the limit a reindex
    copies the rest into a new file; under it, it keeps the file and runs skip them."""
    monkeypatch.setattr(incremental, "MAX_DEAD_TEXT", dead_limit)
    old = _build(corpus, tmp_path / "idx")
    for f in range(2):
        bulk = corpus / f"bulk-{f}.jsonl"
        _jsonl(bulk, bulk.read_text().splitlines()[:22])  # 36 of ~105 articles go
    new = _build(corpus, tmp_path / "idx")
    assert "reindexed_from" in new.index.meta and new.index.meta["text_files"] == 1
    shared = (new.path / "texts.bin").stat().st_ino == (old.path / "texts.bin").stat().st_ino
    assert shared == (dead_limit > 0.5) == (new.path / "text_runs.npy").exists()
    cold = _build(corpus, tmp_path / "cold", full=True)
    assert _texts_by_id(Index.load(new.path)) == _texts_by_id(cold.index)


def test_text_runs_past_the_end_of_a_file_make_the_index_damaged(
    corpus: Path, tmp_path: Path
) -> None:
    _build(corpus, tmp_path / "idx")
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    runs = np.load(new.path / "text_runs.npy")
    runs[-1, 2] += 10**6
    np.save(new.path / "text_runs.npy", runs)
    with pytest.raises(index_module.IndexFormatError, match="past its file"):
        Index.load(new.path)


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 6), min_size=1, max_size=8),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_text_pieces_are_the_bytes_of_the_ranges_through_the_runs(
    sizes: list[int], cuts: list[int]
) -> None:
    """Ranges of the virtual texts map through the runs to the same bytes, piece by piece."""
    files = [bytes(range(50 * f, 50 * f + 50)) for f in range(3)]
    runs, text, at = [], b"", 0
    for i, n in enumerate(sizes):  # run i: n bytes of file i % 3 from offset 5 * i
        runs.append([at, i % 3, 5 * i])
        text += files[i % 3][5 * i : 5 * i + n]
        at += n
    points = sorted({min(c, at) for c in cuts} | {0, at})
    ranges = list(zip(points[::2], points[1::2], strict=False))
    pieces = incremental._text_pieces(ranges, np.asarray(runs, dtype=np.int64))
    got = b"".join(files[f][s : s + n] for f, s, n in pieces)
    assert got == b"".join(text[s:e] for s, e in ranges)
    assert all(n > 0 for _, _, n in pieces)


def test_new_term_appears_and_a_vanished_term_is_dropped(corpus: Path, tmp_path: Path) -> None:
    """A word only a new article has gets a term; a word only a removed one had loses its term."""
    old = _build(corpus, tmp_path / "idx").index
    _change(corpus)
    new = _build(corpus, tmp_path / "idx").index
    (new_term,) = A.terms("zanzibarite")
    (gone,) = A.terms("quixotry")
    assert new_term not in old.vocab and new_term in new.vocab
    assert gone in old.vocab and gone not in new.vocab
    assert new.terms == sorted(new.terms)


def test_removed_changed_and_added_articles_are_reported(corpus: Path, tmp_path: Path) -> None:
    """compare() sees the edit, the additions and the removals; moved lines get their new path."""
    old = _build(corpus, tmp_path / "idx").index
    _change(corpus)
    new = _build(corpus, tmp_path / "idx").index
    report = compare(old, new, 0.0)
    assert report.added == ("added", "g0-new")
    assert set(report.changed) == {"g0-3", "pompeo-hopeful-us-north-korea-dialogue"}
    assert report.removed == ("g0-5", "wikinews/crane")
    moved = new.articles[new.article_by_id["g0-20"]]
    assert moved.path == "bulk-0.jsonl:21"  # one line removed before it, one added
    assert new.doc_by_passage_id("wikinews/crane#1") is None
    d = new.doc_by_passage_id("added#1")
    assert d is not None and "brand new harbour ferry" in new.text(d)


def test_article_metadata_equals_a_cold_build(corpus: Path, tmp_path: Path) -> None:
    """Articles, passages (text, speaker, paragraph) and skips match a cold build, by id."""
    _build(corpus, tmp_path / "idx")
    _change(corpus)
    write(corpus / "broken.jsonl", '{"id": "x"}\nnot json\n')
    new = _build(corpus, tmp_path / "idx").index
    cold = _build(corpus, tmp_path / "cold", full=True).index
    assert "reindexed_from" in new.meta
    key = lambda a: a.id  # noqa: E731
    strip = lambda a: (a.id, a.title, a.date, a.path, a.content_hash, a.paragraphs)  # noqa: E731
    assert sorted(map(strip, new.articles), key=str) == sorted(map(strip, cold.articles), key=str)
    assert sorted(new.articles, key=key)[0].id == sorted(cold.articles, key=key)[0].id
    passages = {new.passage(d).id: new.passage(d) for d in range(new.n_docs)}
    assert passages == {cold.passage(d).id: cold.passage(d) for d in range(cold.n_docs)}
    assert new.skipped == cold.skipped
    hashes = {new.passage_id(d): int(new.p_hash[d]) for d in range(new.n_docs)}
    assert hashes == {cold.passage_id(d): int(cold.p_hash[d]) for d in range(cold.n_docs)}


def test_the_saved_folder_is_never_modified(corpus: Path, tmp_path: Path) -> None:
    """Reindexing reads the old folder only: same files, bytes and modification times."""
    old = _build(corpus, tmp_path / "idx")

    def snapshot() -> dict[str, tuple[bytes, int]]:
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in old.path.iterdir()}

    before = snapshot()
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    assert new.path != old.path and snapshot() == before


def test_only_removals_reuse_the_index(corpus: Path, tmp_path: Path) -> None:
    """Removing articles (nothing new to analyse) is a reindex with cold-build scores."""
    _build(corpus, tmp_path / "idx")
    (corpus / "wikinews" / "crane.md").unlink()
    new = _build(corpus, tmp_path / "idx")
    assert new.index.meta["new_articles"] == 0
    _assert_same_scores(Index.load(new.path), _build(corpus, tmp_path / "cold", full=True).index)


def test_a_duplicate_id_that_becomes_first_is_indexed(corpus: Path, tmp_path: Path) -> None:
    """An article skipped as a duplicate is indexed once the first one with its id is gone."""
    _jsonl(corpus / "bulk-1.jsonl", [_line("g0-7", 777, "The walrus choir sang."), _line("z", 1)])
    old = _build(corpus, tmp_path / "idx").index
    assert any("duplicate article id 'g0-7'" in s.reason for s in old.skipped)
    lines = (corpus / "bulk-0.jsonl").read_text().splitlines()
    _jsonl(corpus / "bulk-0.jsonl", lines[:7] + lines[8:])
    new = _build(corpus, tmp_path / "idx").index
    assert "reindexed_from" in new.meta and A.terms("walrus")[0] in new.vocab
    _assert_same_scores(new, _build(corpus, tmp_path / "cold", full=True).index)


def test_reindex_is_deterministic(corpus: Path, tmp_path: Path) -> None:
    """The same saved index and corpus changes give the same passage order twice."""
    first = _build(corpus, tmp_path / "idx")
    shutil.copytree(first.path, tmp_path / "idx2" / first.path.name)
    _change(corpus)
    a = _build(corpus, tmp_path / "idx").index
    b = _build(corpus, tmp_path / "idx2").index
    assert [a.passage_id(d) for d in range(a.n_docs)] == [b.passage_id(d) for d in range(b.n_docs)]
    for name in Index._ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_unchanged_corpus_returns_the_saved_index(corpus: Path, tmp_path: Path) -> None:
    """A second build of an unchanged corpus loads the saved index instead of building."""
    first = _build(corpus, tmp_path / "idx")
    again = _build(corpus, tmp_path / "idx")
    assert not again.built and again.path == first.path


def test_touched_but_unchanged_corpus_shares_the_saved_files(corpus: Path, tmp_path: Path) -> None:
    """New modification times, same content: the new index hard-links the saved arrays."""
    first = _build(corpus, tmp_path / "idx")
    bulk = corpus / "bulk-0.jsonl"
    os.utime(bulk, ns=(bulk.stat().st_atime_ns, bulk.stat().st_mtime_ns + 10**9))
    again = _build(corpus, tmp_path / "idx")
    assert again.path != first.path and again.index.key == again.path.name
    assert (again.path / "docs.npy").stat().st_ino == (first.path / "docs.npy").stat().st_ino
    assert Index.load(again.path).n_docs == first.index.n_docs


def test_full_rebuild_ignores_the_saved_index(corpus: Path, tmp_path: Path) -> None:
    """full_rebuild=True builds cold even when a reusable index is saved."""
    _build(corpus, tmp_path / "idx")
    _change(corpus)
    assert "reindexed_from" not in _build(corpus, tmp_path / "idx", full=True).index.meta


def test_other_bm25_parameters_build_cold(corpus: Path, tmp_path: Path) -> None:
    """A saved index with other BM25 parameters is not reused."""
    _build(corpus, tmp_path / "idx", params=BM25Params(k1=1.2))
    _change(corpus)
    assert "reindexed_from" not in _build(corpus, tmp_path / "idx").index.meta


def test_damaged_saved_index_builds_cold(corpus: Path, tmp_path: Path) -> None:
    """A saved index whose postings file is truncated is not reused; the build is cold."""
    old = _build(corpus, tmp_path / "idx")
    with open(old.path / "docs.npy", "r+b") as fh:
        fh.truncate(200)
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    assert "reindexed_from" not in new.index.meta
    _assert_same_scores(new.index, _build(corpus, tmp_path / "cold", full=True).index)


def test_inconsistent_saved_index_builds_cold(corpus: Path, tmp_path: Path) -> None:
    """An article table that does not cover the passages is refused before any merge."""
    old = _build(corpus, tmp_path / "idx")
    saved = incremental.read_saved_articles(old.index)
    saved.counts[1] += 1
    with pytest.raises(incremental.ReindexUnsupported, match="article table"):
        incremental.check_reusable(Index.load(old.path), saved)


def test_index_from_another_build_rule_builds_cold(corpus: Path, tmp_path: Path) -> None:
    """A saved index without this version's content-hash marker is not reused."""
    old = _build(corpus, tmp_path / "idx")
    meta = json.loads((old.path / "meta.json").read_text())
    del meta["article_hash"]
    (old.path / "meta.json").write_text(json.dumps(meta))
    _change(corpus)
    assert "reindexed_from" not in _build(corpus, tmp_path / "idx").index.meta


def test_mostly_changed_corpus_builds_cold(corpus: Path, tmp_path: Path) -> None:
    """When most articles are new, the whole corpus is built cold."""
    _build(corpus, tmp_path / "idx")
    _jsonl(corpus / "bulk-2.jsonl", [_line(f"n{i}", 5000 + i) for i in range(200)])
    assert "reindexed_from" not in _build(corpus, tmp_path / "idx").index.meta


def test_reindex_in_forked_workers_over_file_parts_is_exact(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers reading 500-byte parts of the files reindex to the cold build's scores."""
    monkeypatch.setattr(corpus_module, "TASK_BYTES", 500)
    monkeypatch.setattr(build_module, "PARALLEL_MIN_BYTES", 0)
    _build(corpus, tmp_path / "idx")
    _change(corpus)
    new = _build(corpus, tmp_path / "idx").index
    assert "reindexed_from" in new.meta
    _assert_same_scores(new, _build(corpus, tmp_path / "cold", full=True).index)


def test_unchanged_files_are_not_read_again(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files with the recorded size and mtime are replayed from the saved index, not read."""
    write(corpus / "bad.jsonl", '{"id": "x"}\n\nnot json\n' + _line("b1", 31) + "\n")
    _build(corpus, tmp_path / "idx")
    lines = (corpus / "bulk-0.jsonl").read_text().splitlines()
    lines[3] = _line("g0-3", 9999, "The zanzibarite ferry sank near the harbour.")
    _jsonl(corpus / "bulk-0.jsonl", lines)
    read: list[str] = []
    for reader in ("read_part", "read_lines"):  # text files; JSONL files in a reindex
        real = getattr(tokenize_parallel, reader)
        monkeypatch.setattr(
            tokenize_parallel, reader, lambda p, real=real: read.append(p.rel) or real(p)
        )
    new = _build(corpus, tmp_path / "idx").index
    assert set(read) == {"bulk-0.jsonl"}
    cold = _build(corpus, tmp_path / "cold", full=True).index
    _assert_same_scores(new, cold)
    assert new.skipped == cold.skipped and len(cold.skipped) == 2
    assert sorted(a.path for a in new.articles) == sorted(a.path for a in cold.articles)


def test_reindex_of_a_reindexed_index_is_exact(corpus: Path, tmp_path: Path) -> None:
    """Two reindexes in a row (the second from the first's record) match a cold build."""
    _build(corpus, tmp_path / "idx")
    _change(corpus)
    _build(corpus, tmp_path / "idx")
    write(corpus / "later.md", "Later\n\nA later story about the museum festival.")
    (corpus / "wikinews" / "soccer.md").unlink()
    new = _build(corpus, tmp_path / "idx").index
    assert "reindexed_from" in new.meta
    _assert_same_scores(new, _build(corpus, tmp_path / "cold", full=True).index)


def test_reindex_without_the_compiled_kernel_gives_identical_arrays(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy's merge and bounds (no C compiler) produce the kernel's arrays, bit for bit."""
    _build(corpus, tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    _change(corpus)
    compiled = _build(corpus, tmp_path / "a").index
    monkeypatch.setattr(pruning, "USE_KERNEL", False)
    fallback = _build(corpus, tmp_path / "b").index
    assert "reindexed_from" in compiled.meta and "reindexed_from" in fallback.meta
    assert compiled.terms == fallback.terms
    for name in Index._ARRAYS:
        np.testing.assert_array_equal(getattr(compiled, name), getattr(fallback, name), name)


_FIELD_TEXT = st.lists(
    st.sampled_from(['"', "\\", ",", " ", ":", "path", "é", "\n", "a", ', "path": '])
).map("".join)


@settings(max_examples=60, deadline=None)
@given(
    title=_FIELD_TEXT,
    url=st.none() | _FIELD_TEXT,
    path=_FIELD_TEXT,
    new_path=_FIELD_TEXT,
    first=st.integers(0, 10**7),
    new_first=st.integers(0, 10**7),
)
def test_a_relocated_line_is_the_line_of_the_moved_article(
    title: str, url: str | None, path: str, new_path: str, first: int, new_first: int
) -> None:
    """Keeping a line's head and writing path and first passage again gives article_line's
    bytes, whatever quotes, backslashes or ', "path": ' the fields hold."""
    info = ArticleInfo("a1", title, None, url, "src", None, path, "ab" * 16, 3, first, 2)
    line = article_line(info)
    got = relocated(line, json.loads(line), new_path, new_first)
    assert got == article_line(replace(info, path=new_path, first_passage=new_first))


def test_a_line_with_fields_in_another_order_is_written_again_in_this_order() -> None:
    """Lines an older askbot wrote (path before content_hash) become this version's lines."""
    info = ArticleInfo("a1", "T", None, None, None, None, "f.jsonl:1", "ab" * 16, 3, 0, 2)
    old_order = {f: getattr(info, f) for f in ArticleInfo.__dataclass_fields__}
    line = json.dumps(old_order, ensure_ascii=False).encode() + b"\n"
    got = relocated(line, json.loads(line), "f.jsonl:2", 5)
    assert got == article_line(replace(info, path="f.jsonl:2", first_passage=5))


_INFO = st.builds(
    ArticleInfo,
    id=_FIELD_TEXT | st.text(),
    title=_FIELD_TEXT,
    date=st.none() | _FIELD_TEXT,
    url=st.none() | _FIELD_TEXT,
    source=st.none() | _FIELD_TEXT,
    author=st.none() | _FIELD_TEXT,
    path=_FIELD_TEXT | st.text(),
    content_hash=st.sampled_from(["ab" * 16, "0123456789abcdef" * 2, "not-hex"]),
    paragraphs=st.integers(0, 10**6),
    first_passage=st.integers(0, 10**9),
    passage_count=st.integers(0, 10**6),
)


def _columns(saved: index_module.ArticleColumns) -> list[tuple[object, ...]]:
    return list(
        zip(
            saved.ids,
            saved.hashes,
            saved.paths,
            saved.firsts.tolist(),
            saved.counts.tolist(),
            strict=True,
        )
    )


@settings(max_examples=80, deadline=None)
@given(infos=st.lists(_INFO, max_size=5))
def test_saved_article_columns_are_the_lines_fields(infos: list[ArticleInfo]) -> None:
    """The columns read from the article lines (without parsing them when they are this
    version's) are each line's id, content hash, path, first passage and passage count."""
    saved = index_module.ArticleColumns(b"".join(article_line(a) for a in infos))
    assert _columns(saved) == [
        (a.id, a.content_hash, a.path, a.first_passage, a.passage_count) for a in infos
    ]


@settings(max_examples=80, deadline=None)
@given(
    infos=st.lists(_INFO, min_size=1, max_size=5),
    paths=st.lists(_FIELD_TEXT | st.text(), min_size=5, max_size=5),
    firsts=st.lists(st.integers(0, 10**9), min_size=5, max_size=5),
)
def test_relocated_saved_articles_are_the_lines_of_the_moved_articles(
    infos: list[ArticleInfo], paths: list[str], firsts: list[int]
) -> None:
    """Saved lines given a new path and first passage are article_line's bytes for them."""
    saved = index_module.ArticleColumns(b"".join(article_line(a) for a in infos))
    rows = list(range(len(infos)))[::-1]
    got = saved.relocated(rows, paths[: len(rows)], firsts[: len(rows)])
    want = [
        article_line(replace(infos[r], path=p, first_passage=f))
        for r, p, f in zip(rows, paths, firsts, strict=False)
    ]
    assert got == want


def test_saved_lines_in_an_older_field_order_are_parsed_and_written_again() -> None:
    """An article table an older askbot wrote (path before content_hash) is read as JSON and
    its relocated lines are this version's lines."""
    infos = [
        ArticleInfo(f"a{i}", "T", None, None, None, None, f"f.jsonl:{i}", "ab" * 16, 3, 2 * i, 2)
        for i in range(3)
    ]
    blob = b"".join(json.dumps(asdict(a), ensure_ascii=False).encode() + b"\n" for a in infos)
    saved = index_module.ArticleColumns(blob)
    assert _columns(saved) == [
        (a.id, a.content_hash, a.path, a.first_passage, a.passage_count) for a in infos
    ]
    assert saved.relocated([2], ["g.jsonl:1"], [0]) == [
        article_line(replace(infos[2], path="g.jsonl:1", first_passage=0))
    ]


def test_a_reindex_after_every_file_changed_lists_no_saved_sources(
    corpus: Path, tmp_path: Path
) -> None:
    """With no file as the saved index recorded it, nothing is replayed or reused."""
    old = _build(corpus, tmp_path / "idx")
    saved = incremental.read_saved_articles(old.index)
    limit = corpus_module.DEFAULT_MAX_FILE_BYTES
    replay, reuse = incremental._unchanged_files(old.index, saved, corpus, limit)
    assert replay and reuse is not None  # before: every file can be replayed
    for path in corpus.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes() + b"\n")
    assert incremental._unchanged_files(old.index, saved, corpus, limit) == ({}, None)


def test_saved_article_lines_are_read_with_their_offsets(corpus: Path, tmp_path: Path) -> None:
    """read_saved_articles keeps each article's line: it parses to the article's row."""
    old = _build(corpus, tmp_path / "idx")
    saved = incremental.read_saved_articles(old.index)
    assert len(saved) == len(old.index.articles)
    for i, info in enumerate(old.index.articles):
        assert json.loads(saved.line(i)) == asdict(info)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.none() | _FIELD_TEXT | st.text(), min_size=4, max_size=4),
    strings=st.lists(_FIELD_TEXT | st.text(), min_size=4, max_size=4),
    numbers=st.lists(st.integers(0, 2**40), min_size=3, max_size=3),
)
def test_an_article_line_is_json_dumps_of_its_fields(
    texts: list[str | None], strings: list[str], numbers: list[int]
) -> None:
    """article_line writes exactly what json.dumps(ensure_ascii=False) writes, any text."""
    date, url, source, author = texts
    article_id, title, content_hash, path = strings
    paragraphs, first, count = numbers
    info = ArticleInfo(
        article_id, title, date, url, source, author, path, content_hash, paragraphs, first, count
    )
    row = {f: getattr(info, f) for f in index_module._ARTICLE_FIELDS}
    assert sorted(row) == sorted(ArticleInfo.__dataclass_fields__)
    assert article_line(info) == json.dumps(row, ensure_ascii=False).encode() + b"\n"


# -- article keys: the table's ids, hashes, paths and counts, saved beside it ----------------


def _keys_of(infos: list[ArticleInfo]) -> index_module.ArticleKeys:
    return index_module.ArticleKeys(
        [a.id for a in infos],
        [a.content_hash for a in infos],
        [a.path for a in infos],
        [a.passage_count for a in infos],
    )


def _table_of(infos: list[ArticleInfo]) -> tuple[bytes, list[int]]:
    lines = [article_line(a) for a in infos]
    return b"".join(lines), np.cumsum([0] + [len(line) for line in lines]).tolist()


@settings(max_examples=80, deadline=None)
@given(infos=st.lists(_INFO, max_size=5))
def test_saved_article_keys_give_the_columns_the_lines_give(infos: list[ArticleInfo]) -> None:
    """Columns from the keys equal the columns matched line by line, relocated lines included;
    keys whose hashes the lines cannot hold (not 32 hex digits) are refused."""
    passages = 0
    for i, a in enumerate(infos):  # a saved table's passages follow one another
        infos[i] = replace(a, first_passage=passages)
        passages += a.passage_count
    blob, offsets = _table_of(infos)
    keys = _keys_of(infos)
    if any(len(a.content_hash) != 32 for a in infos):
        with pytest.raises(ValueError):
            index_module.ArticleColumns.from_keys(blob, offsets, keys)
        return
    fast = index_module.ArticleColumns.from_keys(blob, offsets, keys)
    slow = index_module.ArticleColumns(blob)
    assert _columns(fast) == _columns(slow)
    rows = list(range(len(infos)))[::-1]
    paths = [f"moved-{r}.jsonl:{r}" for r in rows]
    assert fast.relocated(rows, paths, rows) == slow.relocated(rows, paths, rows)


@pytest.mark.parametrize("damage", ["hash", "swap", "count", "missing"])
def test_article_keys_that_disagree_with_the_lines_are_refused(damage: str) -> None:
    """A key row whose hash is not its line's, rows out of order, or a row too few: ValueError."""
    infos = [
        ArticleInfo(f"a{i}", "T", None, None, None, None, f"f.jsonl:{i}", f"{i:02d}" * 16, 3, 2 * i, 2)
        for i in range(3)
    ]  # fmt: skip
    blob, offsets = _table_of(infos)
    keys = _keys_of(infos)
    if damage == "hash":
        keys.hashes[1] = "ff" * 16
    elif damage == "swap":
        keys = _keys_of([infos[1], infos[0], infos[2]])
    elif damage == "count":
        keys = _keys_of(infos[:2])
    else:
        blob, offsets = _table_of(infos[:2])
        blob += b'{"id": "a2"}\n'
        offsets.append(len(blob))
    with pytest.raises(ValueError):
        index_module.ArticleColumns.from_keys(blob, offsets, keys)


def _saved_keys(folder: Path) -> index_module.ArticleKeys:
    keys = index_module.ArticleKeys.read(folder / index_module.ARTICLE_KEYS)
    assert keys is not None
    return keys


def test_a_build_saves_the_keys_of_its_article_table(corpus: Path, tmp_path: Path) -> None:
    """article_keys.json holds each article's id, hash, path and passage count, in table order."""
    built = _build(corpus, tmp_path / "idx")
    keys = _saved_keys(built.path)
    articles = list(built.index.articles)
    assert keys == _keys_of(articles)


def test_a_reindex_saves_the_keys_a_cold_build_saves(corpus: Path, tmp_path: Path) -> None:
    """The reindexed table's keys (kept articles with their paths now, then new ones) are the
    keys of a cold build of the changed corpus, article by article."""
    _build(corpus, tmp_path / "idx")
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    cold = _build(corpus, tmp_path / "cold", full=True)
    assert "reindexed_from" in new.index.meta
    by_id = lambda k: sorted(zip(k.ids, k.hashes, k.paths, k.counts, strict=True))  # noqa: E731
    assert by_id(_saved_keys(new.path)) == by_id(_saved_keys(cold.path))
    assert _saved_keys(new.path) == _keys_of(list(Index.load(new.path).articles))


@pytest.mark.parametrize("keys_file", ["missing", "damaged", "stale"])
def test_a_reindex_without_usable_keys_reads_the_lines_and_stays_exact(
    corpus: Path, tmp_path: Path, keys_file: str
) -> None:
    """An index saved before the keys (no file), or with keys that do not match its table, is
    reindexed from its lines: the result still equals a cold build and has keys again."""
    old = _build(corpus, tmp_path / "idx")
    path = old.path / index_module.ARTICLE_KEYS
    if keys_file == "missing":
        path.unlink()
    elif keys_file == "damaged":
        path.write_text("{not json")
    else:
        keys = _saved_keys(old.path)
        path.write_bytes(replace(keys, hashes=keys.hashes[::-1]).to_json())
    _change(corpus)
    new = _build(corpus, tmp_path / "idx")
    cold = _build(corpus, tmp_path / "cold", full=True)
    assert new.index.meta["reindexed_from"] == old.index.key
    _assert_same_scores(Index.load(new.path), cold.index)
    assert _saved_keys(new.path) == _keys_of(list(Index.load(new.path).articles))


def test_a_reindex_prefetches_the_saved_arrays_it_reads_whole(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before it reads the corpus, a reindex asks for every saved array the merge scans."""
    old = _build(corpus, tmp_path / "idx")
    asked: list[list[Path]] = []
    done = threading.Event()

    def prefetch(paths: list[Path]) -> None:  # on the reindex's thread
        asked.append(list(paths))
        done.set()

    monkeypatch.setattr(residency, "prefetch", prefetch)
    _change(corpus)
    assert "reindexed_from" in _build(corpus, tmp_path / "idx").index.meta
    assert done.wait(10)
    (paths,) = asked
    assert {p.name for p in paths} >= {"docs.npy", "tfs.npy", "indptr.npy", "doc_len.npy"}
    assert all(p.parent == old.path and p.is_file() for p in paths)


@pytest.mark.parametrize(
    "doc",
    [
        {"ids": ["a"], "hashes": ["ab" * 16], "paths": ["p"]},
        {"ids": [1], "hashes": ["ab" * 16], "paths": ["p"], "counts": [1]},
        {"ids": ["a"], "hashes": ["ab" * 16], "paths": ["p"], "counts": ["1"]},
        {"ids": ["a", "b"], "hashes": ["ab" * 16], "paths": ["p"], "counts": [1]},
        {"ids": "a", "hashes": "b", "paths": "c", "counts": [1]},
        ["not", "an", "object"],
    ],
)
def test_article_keys_of_the_wrong_shape_are_not_read(tmp_path: Path, doc: object) -> None:
    """A keys file missing a column, with items of the wrong type or columns of unequal
    lengths reads as no keys (the table is then read line by line)."""
    path = tmp_path / index_module.ARTICLE_KEYS
    path.write_text(json.dumps(doc))
    assert index_module.ArticleKeys.read(path) is None


@pytest.mark.parametrize("saved", ["reusable", "unusable"])
def test_the_prefetch_is_over_before_any_analysis_forks_workers(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: str
) -> None:
    """Workers are forked only from a single-threaded process: however slow the prefetch, its
    thread has ended when the analysis starts, after a reindex's reading of the saved index or
    after it gave up on it for a cold build."""
    _build(corpus, tmp_path / "idx")
    gate = threading.Event()  # never set: the fake prefetch blocks until its timeout
    monkeypatch.setattr(residency, "prefetch", lambda paths: gate.wait(0.5))
    alive: list[bool] = []
    analyse = build_module.analyse_tasks_in_parallel

    def spy(*args: object, **kwargs: object) -> object:
        alive.append(any(t.name == incremental.PREFETCH_THREAD for t in threading.enumerate()))
        return analyse(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build_module, "analyse_tasks_in_parallel", spy)
    if saved == "unusable":

        def refuse(*args: object) -> None:
            raise incremental.ReindexUnsupported("refused by the test")

        monkeypatch.setattr(incremental, "check_reusable", refuse)
    _change(corpus)
    built = _build(corpus, tmp_path / "idx")
    assert ("reindexed_from" in built.index.meta) == (saved == "reusable")
    assert alive == [False]
