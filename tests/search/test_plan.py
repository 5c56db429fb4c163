"""Planning a build: corpus files checked and cut into tasks of whole lines, read in blocks."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from askbot.search import build as build_module
from askbot.search import corpus as corpus_module
from askbot.search import store as store_module
from askbot.search import tokenize_parallel
from askbot.search.analysis import Analyzer
from askbot.search.build import build_corpus_index
from askbot.search.corpus import load_corpus, plan_tasks


def _parts(root: Path, task_bytes: int) -> list[tuple[str, int, int, int]]:
    return [
        (p.rel, p.start, p.end, p.first_line)
        for task in plan_tasks(root, task_bytes=task_bytes)
        for p in task.parts
    ]


def _skips(root: Path) -> list[tuple[str, str]]:
    return [(s.path, s.reason) for task in plan_tasks(root) for s in task.skipped_before]


def _lines(n: int, word: str = "news") -> bytes:
    return b"".join(
        b'{"id": "a%d", "title": "T%d", "text": "%s %d"}\n' % (i, i, word.encode(), i)
        for i in range(n)
    )


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 64 bytes: every file here spans many, and lines cross their edges."""
    monkeypatch.setattr(corpus_module, "CHECK_BLOCK", 64)


def test_a_jsonl_file_is_cut_after_a_line_end_with_each_parts_first_line(tmp_path: Path) -> None:
    """Each part ends at the first line end at or after task_bytes into it, and knows the
    number of its first line; the last part runs to the end of a file without a final line end."""
    data = _lines(40).rstrip(b"\n")
    (tmp_path / "a.jsonl").write_bytes(data)
    task_bytes = 300
    want, start, line = [], 0, 1
    while start < len(data):
        cut = data.find(b"\n", start + task_bytes)
        end = len(data) if cut < 0 else cut + 1
        want.append(("a.jsonl", start, end, line))
        line += data.count(b"\n", start, end)
        start = end
    assert len(want) > 3
    assert _parts(tmp_path, task_bytes) == want


def test_a_character_split_between_two_blocks_still_decodes(tmp_path: Path) -> None:
    """A multi-byte UTF-8 character across a block edge is not taken for a broken file."""
    head = b'{"id": "a0", "title": "T", "text": "'
    data = head + b"x" * (63 - len(head)) + '\u201cquoted\u201d"}\n'.encode() + _lines(3)
    assert data[63] == 0xE2 and data[64] & 0xC0 == 0x80  # the first block ends inside the quote
    (tmp_path / "a.jsonl").write_bytes(data)
    assert _skips(tmp_path) == []
    assert _parts(tmp_path, 1 << 20) == [("a.jsonl", 0, len(data), 1)]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + _lines(3))
    assert _skips(tmp_path) == [] and len(_parts(tmp_path, 1 << 20)) == 1


def test_invalid_utf8_after_the_first_block_skips_the_file_with_its_offset(tmp_path: Path) -> None:
    """The reason names the bad byte and its offset in the file, as loading the corpus says."""
    data = _lines(10)
    data = data[:200] + b"\xff" + data[201:]
    (tmp_path / "a.jsonl").write_bytes(data)
    (reason,) = [r for _, r in _skips(tmp_path)]
    assert "not UTF-8 (invalid byte 0xff at offset 200)" in reason
    assert [(s.path, s.reason) for s in load_corpus(tmp_path).skipped] == [("a.jsonl", reason)]


def test_a_truncated_character_at_the_end_skips_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(_lines(3) + b"\xe2\x80")
    (reason,) = [r for _, r in _skips(tmp_path)]
    assert reason.startswith("not UTF-8")


def test_a_nul_byte_near_the_start_skips_the_file_as_binary(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"\x00" + _lines(3))
    assert _skips(tmp_path) == [("a.jsonl", "binary file (contains NUL bytes)")]


def test_ids_are_taken_all_at_once_only_when_all_are_new() -> None:
    """take_all takes a chunk's ids when none is taken or repeated, else none of them."""
    ids = corpus_module.ArticleIds()
    assert ids.take_all(["a", "b"], ["f:1", "f:2"])
    assert not ids.take_all(["c", "a"], ["f:3", "f:4"])  # "a" is taken
    assert not ids.take_all(["d", "d"], ["f:5", "f:6"])  # repeated
    assert ids.duplicate("c", "f:7") is None and ids.duplicate("d", "f:8") is None
    dup = ids.duplicate("a", "f:9")
    assert dup is not None and "(first in f:1)" in dup.reason


_LINE_TEXT = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "a",
            " ",
            "\t",
            "\r",
            "\x0b",
            "\x1c",
            "\x1f",
            "\x85",
            "\xa0",
            "\u2028",
            "\u3000",
            "\ufeff",
            "é",
            "“",
            "\U0001f600",
        ]
    ),
    max_size=6,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_LINE_TEXT, min_size=1, max_size=8), bom=st.booleans(), cut=st.integers(0, 7))
def test_lines_read_as_bytes_are_the_sources_read_as_text(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], bom: bool, cut: int
) -> None:
    """read_lines gives read_part's sources (where, and text as UTF-8 bytes, so the same
    content hash) for any mix of blank, Unicode-space and byte-order-mark lines."""
    data = ("\ufeff" if bom else "").encode() + "\n".join(lines).encode()
    path = tmp_path_factory.mktemp("lines") / "a.jsonl"
    path.write_bytes(data)
    ends = [i + 1 for i, b in enumerate(data) if b == 0x0A]
    start = ends[cut] if cut < len(ends) else 0
    part = corpus_module.FilePart(
        str(path), "a.jsonl", True, start, len(data), 1 + data.count(b"\n", 0, start)
    )
    as_text = [(s.where, s.text) for s in corpus_module.read_part(part)]
    as_bytes = list(corpus_module.read_lines(part))
    assert [(w, bytes(b).decode()) for w, b in as_bytes] == as_text
    assert [corpus_module.source_hash_of_bytes(b) for _, b in as_bytes] == [
        corpus_module.source_hash(t) for _, t in as_text
    ]


def test_closing_the_chunks_early_leaves_no_worker_running(tmp_path: Path) -> None:
    """A reindex that gives up after its first chunk stops the forked workers with it."""
    (tmp_path / "a.jsonl").write_bytes(_lines(400))
    assert tokenize_parallel.can_fork()
    tasks = plan_tasks(tmp_path, task_bytes=256)
    chunks = tokenize_parallel.analyse_tasks_in_parallel(tasks, Analyzer(), workers=2)
    first = next(chunks)
    assert first.worker != os.getpid()  # analysed in a worker
    assert multiprocessing.active_children()
    chunks.close()
    assert multiprocessing.active_children() == []


def test_chunks_from_forked_workers_come_in_task_order(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(_lines(300))
    tasks = list(plan_tasks(tmp_path, task_bytes=256))
    chunks = tokenize_parallel.analyse_tasks_in_parallel(tasks, Analyzer(), workers=2)
    ids = [meta[0] for chunk in chunks for meta in chunk.articles]
    assert ids == [f"a{i}" for i in range(300)]


def test_texts_written_by_forked_workers_build_the_same_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers that hand their texts over in files give the passages the texts of an
    in-process build, a duplicate id dropped from a worker's file too, and leave no file."""
    monkeypatch.setattr(corpus_module, "TASK_BYTES", 300)
    monkeypatch.setattr(build_module, "PARALLEL_MIN_BYTES", 0)
    root = tmp_path / "corpus"
    root.mkdir()
    lines = _lines(60).decode().splitlines()
    lines[40] = lines[3].replace("news 3", "a walrus choir")  # id a3 again: a duplicate
    (root / "a.jsonl").write_text("\n".join(lines) + "\n")
    spill = tmp_path / "spill"
    spill.mkdir()
    assert tokenize_parallel.can_fork()
    forked = build_corpus_index(root, Analyzer(), workers=2, spill_dir=spill)
    here = build_corpus_index(root, Analyzer(), workers=1)
    assert [forked.text(d) for d in range(forked.n_docs)] == [
        here.text(d) for d in range(here.n_docs)
    ]
    assert list(forked.articles) == list(here.articles) and len(here.articles) == 59
    assert "walrus" not in forked.vocab
    assert not list(spill.glob(".tmp-texts-*"))


def test_a_workers_text_file_older_than_an_hour_is_removed(tmp_path: Path) -> None:
    """A killed build's worker texts are removed by a later build; a running one's are kept."""
    root = tmp_path / "idx"
    root.mkdir()
    old, new = root / ".tmp-texts-1-ab-2", root / ".tmp-texts-3-cd-4"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    hour_ago = old.stat().st_mtime - 3700
    os.utime(old, (hour_ago, hour_ago))
    store_module._prune(root, keep=root / "none")
    assert not old.exists() and new.exists()
