"""Reindex benchmark: cold build, then an incremental reindex after 1% of the articles changed.

Usage::

    flock /tmp/askbot-bench.lock .venv/bin/python bench/reindex.py --size 1000000

Needs the generated corpus ``bench/_data/corpus-SIZE`` (``python bench/scale.py --sizes SIZE``
makes it). Steps, each build in its own process so its peak memory (``ru_maxrss``) is its own:

1. copy the corpus to ``bench/_data/reindex-SIZE/corpus`` (scratch, git-ignored);
2. cold build (``build_and_save(..., full_rebuild=True)``) into ``.../index``;
3. change ``--fraction`` of the articles, spread over every file with a fixed seed (or over
   the first ``--files N`` files only): a third edited (one paragraph replaced, with a word no
   article had), a third removed, a third added as new articles;
4. incremental reindex (``build_and_save``) from the cold index, ``--runs`` times (the new folder
   is removed between runs, so each starts from the same saved index); the median and each
   run's phases (``meta["reindex_phases"]`` and the save) are reported;
5. a cold build of the changed corpus into ``.../cold``, and an exactness check: every term's
   df and idf, N and avgdl, and every passage's score (matched by passage id) for ``--questions``
   SQuAD questions, against the reindexed index; and the texts of their top 10 and of 25,000
   passages (a fixed sample and the last ones, the new articles').

``--reuse`` skips steps 1-3 and 5: it reindexes the last run's changed corpus from its cold
build again (the index format must not have changed since), to time the reindex alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"


def _child(mode: str, corpus: str, root: str) -> dict[str, Any]:
    from askbot.search.analysis import Analyzer
    from askbot.search.index import Index
    from askbot.search.store import IndexSpec, build_and_save

    save_seconds = [0.0]
    save = Index.save

    def timed_save(self: Index, directory: Any) -> Path:
        t = time.perf_counter()
        try:
            return save(self, directory)
        finally:
            save_seconds[0] += time.perf_counter() - t

    Index.save = timed_save  # type: ignore[method-assign]  # the bench times the save phase
    spec = IndexSpec(corpus_dir=Path(corpus), index_root=Path(root))
    t0 = time.perf_counter()
    opened = build_and_save(spec, Analyzer(), full_rebuild=mode == "cold")
    seconds = time.perf_counter() - t0
    phases = dict(opened.index.meta.get("reindex_phases", {}))
    phases["save"] = round(save_seconds[0], 3)
    phases["other"] = round(seconds - sum(phases.values()), 3)
    return {
        "phases": phases,
        "seconds": seconds,
        "path": str(opened.path),
        "incremental": "reindexed_from" in opened.index.meta,
        "passages": opened.index.n_docs,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _run(mode: str, corpus: Path, root: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(corpus), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} build failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def change_corpus(corpus: Path, fraction: float, seed: int, files: int = 0) -> dict[str, int]:
    """Edit, remove and add ``fraction`` of the articles of every .jsonl file (deterministic).

    With ``files``, only the first that many files change (``fraction`` of all the articles).
    """
    rng = np.random.default_rng(seed)
    counts = {"edited": 0, "removed": 0, "added": 0}
    paths = sorted(corpus.glob("*.jsonl"))
    if files:
        fraction *= len(paths) / files
        paths = paths[:files]
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        n = len(lines)
        k = max(3, round(n * fraction))
        chosen = rng.choice(n, size=2 * (k // 3), replace=False)
        edit, remove = set(chosen[: k // 3].tolist()), set(chosen[k // 3 :].tolist())
        out: list[str] = []
        for i, line in enumerate(lines):
            if i in remove:
                counts["removed"] += 1
                continue
            if i in edit:
                record = json.loads(line)
                paragraphs = record["text"].split("\n\n")
                paragraphs[0] = f"Breaking update {path.stem} {i}: the zqxedit{i} council met."
                record["text"] = "\n\n".join(paragraphs)
                line = json.dumps(record)
                counts["edited"] += 1
            out.append(line)
        for j in range(k - 2 * (k // 3)):
            donor = json.loads(lines[int(rng.integers(n))])
            donor["id"] = f"new-{path.stem}-{j}"
            donor["text"] = f"A new story zqxnew{j} about {path.stem}.\n\n" + donor["text"]
            out.insert(int(rng.integers(len(out) + 1)), json.dumps(donor))
            counts["added"] += 1
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
        tmp.replace(path)  # a new file: never writes through a link to the generated corpus
    return counts


def check_exact(reindexed: Path, cold: Path, questions: list[str]) -> dict[str, Any]:
    """Vocabulary, df, idf, N, avgdl and every passage's score (by passage id) must be equal,
    and the texts of the hits and of a sample of passages."""
    from askbot.search.analysis import Analyzer
    from askbot.search.index import Index

    a, b = Index.load(reindexed), Index.load(cold)
    assert a.n_docs == b.n_docs and a.avgdl == b.avgdl, "N or avgdl differ"
    assert a.terms == b.terms, "vocabularies differ"
    assert np.array_equal(a.df, b.df) and np.array_equal(a.idf, b.idf), "df or idf differ"
    # Passage d of ``a`` is passage perm[d] of ``b``: match (article id, paragraph, window).
    ids = {art.id: i for i, art in enumerate(b.articles)}
    a_art = np.fromiter((ids[art.id] for art in a.articles), dtype=np.int64, count=len(a.articles))

    def keys(index: Index, article: np.ndarray) -> np.ndarray:
        art = article[np.asarray(index.p_article)]
        return (art << 24) | (np.asarray(index.p_paragraph, np.int64) << 8) | index.p_window

    ka = keys(a, a_art)
    kb = keys(b, np.arange(len(b.articles), dtype=np.int64))
    order_b = np.argsort(kb)
    perm = order_b[np.searchsorted(kb[order_b], ka)]
    assert np.array_equal(kb[perm], ka), "passages differ"
    analyzer = Analyzer()
    checked = 0
    for q in questions:
        terms = analyzer.terms(q)
        sa, sb = a.get_scores(terms), b.get_scores(terms)
        assert np.array_equal(sa, sb[perm]), f"scores differ for {q!r}"
        top_a = [(a.passage_id(h.doc), h.score) for h in a.search(terms, 10)]
        top_b = [(b.passage_id(h.doc), h.score) for h in b.search(terms, 10)]
        assert [s for _, s in top_a] == [s for _, s in top_b], f"top-10 differ for {q!r}"
        checked += 1
        for h in a.search(terms, 10):
            assert a.text(h.doc) == b.text(int(perm[h.doc])), f"texts differ for {q!r}"
    # Texts (kept ones read through the saved files' runs): a fixed sample and the last passages.
    sample = np.random.default_rng(0).choice(a.n_docs, min(a.n_docs, 20_000), replace=False)
    sample = np.concatenate((sample, np.arange(max(0, a.n_docs - 5_000), a.n_docs)))
    for d in sample.tolist():
        assert a.text(d) == b.text(int(perm[d])), f"the text of passage {d} differs"
    return {
        "questions": checked,
        "passages": a.n_docs,
        "terms": len(a.terms),
        "texts_compared": int(sample.shape[0]),
        "text_files": a.meta.get("text_files", 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument(
        "--files", type=int, default=0, help="change only the first N files (default: all)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the cold build and changed corpus of the last run; only time the reindex",
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CORPUS", "ROOT"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    source = DATA / f"corpus-{args.size}"
    if not (source / ".complete").exists():
        print(f"no corpus at {source}: run python bench/scale.py --sizes {args.size}")
        return 2
    scratch = DATA / f"reindex-{args.size}"
    corpus, root, cold_root = scratch / "corpus", scratch / "index", scratch / "cold"
    last = scratch / "cold-build.json"
    if args.reuse and last.exists():
        keep = Path(json.loads(last.read_text())["path"])
        for old in root.iterdir():  # every reindex starts from the cold build alone
            if old != keep:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        print(f"reusing the cold build {keep.name} and the changed corpus")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
        corpus.mkdir(parents=True)
        for f in sorted(source.glob("*.jsonl")):
            shutil.copy2(f, corpus / f.name)
        cold = _run("cold", corpus, root)
        print(f"cold build: {cold['seconds']:.1f} s, peak {cold['peak_mb']:.0f} MB "
              f"(workers {cold['worker_peak_mb']:.0f} MB), {cold['passages']:,} passages, "
              f"save {cold['phases']['save']:.1f} s")  # fmt: skip
        changes = change_corpus(corpus, args.fraction, args.seed, args.files)
        print(f"changed: {changes}")
        # The rewritten corpus files (every file holds a changed article here) go to disk now,
        # not while the first reindex is being timed.
        os.sync()
        last.write_text(json.dumps(cold))
    times: list[float] = []
    result: dict[str, Any] = {}
    for run in range(args.runs):
        result = _run("reindex", corpus, root)
        if not result["incremental"]:
            raise RuntimeError("the reindex was not incremental")
        times.append(result["seconds"])
        print(f"  run {run + 1}: {result['seconds']:.2f} s, phases {result['phases']}")
        if run < args.runs - 1:
            shutil.rmtree(result["path"])
    print(f"incremental reindex: median {statistics.median(times):.2f} s of {args.runs} "
          f"({', '.join(f'{t:.2f}' for t in times)}), peak {result['peak_mb']:.0f} MB")  # fmt: skip
    if args.reuse:
        return 0
    fresh = _run("cold", corpus, cold_root)
    print(f"cold build of the changed corpus: {fresh['seconds']:.1f} s, "
          f"peak {fresh['peak_mb']:.0f} MB")  # fmt: skip
    sys.path.insert(0, str(HERE))
    from scale import questions

    exact = check_exact(Path(result["path"]), Path(fresh["path"]), questions()[: args.questions])
    print(f"exact: {exact}")
    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
