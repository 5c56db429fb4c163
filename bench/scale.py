"""Scale benchmark: build, load, search and answer at 10k / 100k / 1M passages against baselines.

Usage::

    python bench/scale.py --sizes 10000 100000 1000000 --baselines rank-bm25,bm25s

Corpora are generated deterministically into ``bench/_data/`` (synthetic English-like text: words
of the SQuAD dev articles drawn from a Zipf-Mandelbrot distribution over their frequency rank,
~90-word paragraphs, 10 per article, a few large .jsonl files). Questions are 200 real SQuAD dev
questions reduced to their 2-5 first content words, so question words have realistic frequencies.
Every engine runs in its own subprocess so that peak memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
OUT = HERE / "_out"
SQUAD = HERE.parent.parent / "shared" / "corpora" / "squad-v1.1-dev"
PARAGRAPHS_PER_ARTICLE = 10
ARTICLES_PER_FILE = 8000
N_QUESTIONS = 200
K = 10
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+")


# -- data ------------------------------------------------------------------------------------


def _vocabulary() -> tuple[list[str], np.ndarray]:
    """SQuAD dev words ranked by frequency, with Zipf-Mandelbrot probabilities over the rank."""
    counts: dict[str, int] = {}
    for path in sorted((SQUAD / "articles").glob("*.txt")):
        for w in _WORD.findall(path.read_text(encoding="utf-8")):
            counts[w] = counts.get(w, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    p = 1.0 / (ranks + 2.7)
    return words, p / p.sum()


def corpus_dir(size: int) -> Path:
    return DATA / f"corpus-{size}"


def generate_corpus(size: int, seed: int = 20240601) -> Path:
    """``size`` passages as ~90-word paragraphs in .jsonl files; reused when already there."""
    target = corpus_dir(size)
    done = target / ".complete"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.jsonl"):
        old.unlink()
    words, p = _vocabulary()
    v = len(words)
    # Three spellings of every word: plain, ending a sentence, starting one.
    spelled = np.array(
        words + [w + "." for w in words] + [w[:1].upper() + w[1:] for w in words], dtype=object
    )
    rng = np.random.default_rng(seed + size)
    n_articles = (size + PARAGRAPHS_PER_ARTICLE - 1) // PARAGRAPHS_PER_ARTICLE
    passage = 0
    for file_no, first in enumerate(range(0, n_articles, ARTICLES_PER_FILE)):
        last = min(n_articles, first + ARTICLES_PER_FILE)
        n_par = min(size, last * PARAGRAPHS_PER_ARTICLE) - passage
        lengths = np.clip(rng.normal(90, 15, n_par).round().astype(np.int64), 40, 118)
        total = int(lengths.sum())
        ids = rng.choice(v, size=total, p=p)
        variant = np.zeros(total, dtype=np.int64)
        # Sentences of 6-25 words: a full stop at the end, a capital at the start.
        ends = np.cumsum(rng.integers(6, 26, size=total // 6 + 2))
        ends = ends[ends < total] - 1
        variant[ends] = 1
        starts = np.concatenate(([0], ends + 1))
        starts = starts[(starts < total) & (variant[np.minimum(starts, total - 1)] == 0)]
        variant[starts] = 2
        tokens = spelled[ids + variant * v].tolist()
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        lines = []
        titles = rng.choice(v, size=(last - first, 5), p=p)
        for a in range(first, last):
            lo = (a - first) * PARAGRAPHS_PER_ARTICLE
            hi = min(n_par, lo + PARAGRAPHS_PER_ARTICLE)
            if lo >= hi:
                break
            paras = [
                " ".join(tokens[offsets[i] : offsets[i + 1]]).rstrip(".") + "."
                for i in range(lo, hi)
            ]
            title = " ".join(words[t] for t in titles[a - first]).capitalize()
            lines.append(
                json.dumps(
                    {
                        "id": f"a{a:07d}",
                        "title": title,
                        "text": "\n\n".join(paras),
                        "date": "2020-01-01",
                        "source": "bench",
                    }
                )
            )
        passage += n_par
        (target / f"part-{file_no:03d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done.write_text(str(size))
    return target


def questions() -> list[str]:
    """200 real SQuAD dev questions cut to their first 2-5 content words (deterministic)."""
    from askbot.search.analysis import STOPWORDS

    rng = np.random.default_rng(7)
    records = [
        json.loads(line)
        for line in (SQUAD / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    out: list[str] = []
    for i in rng.permutation(len(records)):
        content = [w for w in _WORD.findall(records[i]["question"]) if w.lower() not in STOPWORDS]
        want = int(rng.integers(2, 6))
        if len(content) >= 2:
            out.append(" ".join(content[:want]))
        if len(out) == N_QUESTIONS:
            break
    return out


# -- measuring helpers -----------------------------------------------------------------------


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _resident_by_mapping() -> dict[str, float]:
    """Resident MB per mapped file (by file name) and of anonymous memory, from smaps."""
    out: dict[str, float] = {}
    name = "anonymous"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(None, 5)
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:
            name = Path(head[5]).name if len(head) == 6 and head[5].startswith("/") else "anonymous"
        elif head and head[0] == "Rss:":
            out[name] = out.get(name, 0.0) + int(head[1]) / 1024
    return dict(sorted(((k, round(v, 1)) for k, v in out.items() if v >= 1), key=lambda kv: -kv[1]))


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _timed_rounds(fn: Any, items: list[Any], rounds: int = 3) -> list[float]:
    """Per item, the median over ``rounds`` of its wall time in ms (a warm-up round first)."""
    for item in items:
        fn(item)
    per: list[list[float]] = [[] for _ in items]
    for _ in range(rounds):
        for i, item in enumerate(items):
            t = time.perf_counter()
            fn(item)
            per[i].append((time.perf_counter() - t) * 1000)
    return [statistics.median(p) for p in per]


def index_root(size: int) -> Path:
    return DATA / f"askbot-{size}" / "index"


def tokens_cache(size: int) -> Path:
    return DATA / f"tokens-{size}"


# -- children: one engine each, in its own process -------------------------------------------


def child_prepare(size: int) -> dict[str, Any]:
    """Read and tokenise the corpus the plain way (what a baseline pays), cache the tokens."""
    import gc

    from askbot.search.analysis import Analyzer
    from askbot.search.build import tokenize_passages
    from askbot.search.corpus import load_corpus, split_passages

    target = tokens_cache(size)
    if (target / "timing.json").exists():
        cached: dict[str, Any] = json.loads((target / "timing.json").read_text())
        return cached
    analyzer = Analyzer()
    gc.disable()  # the baselines get the same gc-free tokenising askbot uses
    t0 = time.perf_counter()
    corpus = load_corpus(corpus_dir(size))
    passages = [p for a in corpus.articles for p in split_passages(a)]
    t1 = time.perf_counter()
    tokens = tokenize_passages(passages, analyzer)
    t2 = time.perf_counter()
    vocab: dict[str, int] = {}
    flat = np.fromiter(
        (vocab.setdefault(t, len(vocab)) for doc in tokens for t in doc), dtype=np.int32
    )
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum([len(doc) for doc in tokens], out=offsets[1:])
    target.mkdir(parents=True, exist_ok=True)
    np.save(target / "ids.npy", flat)
    np.save(target / "offsets.npy", offsets)
    (target / "terms.txt").write_text("\n".join(vocab), encoding="utf-8")
    timing = {"read_split_s": t1 - t0, "tokenise_s": t2 - t1, "passages": len(passages)}
    (target / "timing.json").write_text(json.dumps(timing))
    return timing


def _load_tokens(size: int) -> tuple[list[list[int]], list[str]]:
    target = tokens_cache(size)
    flat = np.load(target / "ids.npy")
    offsets = np.load(target / "offsets.npy").tolist()
    terms = (target / "terms.txt").read_text(encoding="utf-8").split("\n")
    ids = flat.tolist()
    return [ids[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)], terms


def child_askbot_build(size: int) -> dict[str, Any]:
    """`askbot index`: read the corpus, build, save (under the key `askbot ask` looks for)."""
    from askbot.search.analysis import Analyzer
    from askbot.search.store import IndexSpec, build_and_save

    spec = IndexSpec(corpus_dir=corpus_dir(size), index_root=index_root(size))
    t0 = time.perf_counter()
    opened = build_and_save(spec, Analyzer(), full_rebuild=True)  # a cold build, every time
    total = time.perf_counter() - t0
    return {
        "build_s": total,
        "build_index_s": opened.index.meta.get("build_seconds"),
        "path": str(opened.path),
        "peak_mb": _peak_mb(),
        "worker_peak_mb": _children_peak_mb(),
        "terms": len(opened.index.terms),
        "postings": int(opened.index.docs.shape[0]),
    }


def child_askbot_query(size: int, path: str, sample: int) -> dict[str, Any]:
    """Open the saved index as `askbot ask` does, then 200 searches and 200 whole answers."""
    from askbot.search import pruning
    from askbot.search.analysis import Analyzer
    from askbot.search.answer import build_answer
    from askbot.search.store import IndexSpec, open_index

    analyzer = Analyzer()
    qs = questions()
    spec = IndexSpec(corpus_dir=corpus_dir(size), index_root=index_root(size))
    t0 = time.perf_counter()
    opened = open_index(spec, analyzer)  # fingerprint the corpus files, find and map the index
    open_s = time.perf_counter() - t0
    if opened.built or str(opened.path) != path:
        raise RuntimeError(f"expected the saved index {path}, got {opened.path}")
    index = opened.index
    terms = [analyzer.terms(q) for q in qs]
    t0 = time.perf_counter()
    index.search(terms[0], K)  # the first search of this process, nothing touched before it
    first_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    build_answer(qs[1], index, analyzer)
    first_answer_ms = (time.perf_counter() - t0) * 1000
    search_ms = _timed_rounds(lambda q: index.search(q, K), terms)
    scanned, probed, met = [], [], []
    for q in terms:  # what the pruned search read: postings scanned, passages probed and met
        index.search(q, K)
        scanned.append(index._scratch.scanned)
        probed.append(index._scratch.probed)
        met.append(index._scratch.met)
    answer_ms = _timed_rounds(lambda q: build_answer(q, index, analyzer), qs)
    # Resident after load + the 200 questions (before the exhaustive runs touch every posting).
    resident = _resident_mb()
    resident_by = _resident_by_mapping()
    results = [[h.doc for h in index.search(q, K)] for q in terms]
    # The same compiled search with pruning off: every posting of every query term scanned.
    exhaustive_ms = _timed_rounds(lambda q: index.search_exhaustive(q, K, compiled=True), terms)
    if size > 100_000:  # the reference: rank-bm25's scores, via the dense exact get_scores
        ref = np.stack([index.get_scores(terms[i]) for i in range(sample)])
        np.save(OUT / f"reference-{size}.npy", ref)
    lengths = [len(set(t)) for t in terms]
    return {
        "load_s": open_s, "first_query_ms": first_ms, "first_answer_ms": first_answer_ms,
        "search_ms": search_ms, "exhaustive_ms": exhaustive_ms, "answer_ms": answer_ms,
        "results": results, "resident_mb": resident, "resident_by": resident_by, "peak_mb": _peak_mb(),
        "query_terms": lengths, "scanned": scanned, "probed": probed,
        "met": met, "compiled": pruning.kernel_available(),
        "postings_touched": [sum(index.document_frequency(t) for t in set(q)) for q in terms],
    }  # fmt: skip


def child_rank_bm25(size: int, sample: int) -> dict[str, Any]:
    """rank-bm25's BM25Okapi from the cached tokens; its scores are the reference."""
    import gc

    from rank_bm25 import BM25Okapi

    from askbot.search.analysis import Analyzer

    docs, terms = _load_tokens(size)
    corpus = [[terms[i] for i in doc] for doc in docs]
    del docs
    gc.disable()
    t0 = time.perf_counter()
    bm25 = BM25Okapi(corpus)
    index_s = time.perf_counter() - t0
    gc.enable()
    analyzer = Analyzer()
    qs = [analyzer.terms(q) for q in questions()]

    def top(q: list[str]) -> list[int]:
        scores = bm25.get_scores(q)
        part = np.argpartition(-scores, K)[:K]
        return [int(d) for d in sorted(part.tolist(), key=lambda d: (-scores[d], d))]

    times = []
    results = []
    for q in qs:
        t = time.perf_counter()
        results.append(top(q))
        times.append((time.perf_counter() - t) * 1000)
    resident = _resident_mb()
    np.save(OUT / f"reference-{size}.npy", np.stack([bm25.get_scores(q) for q in qs[:sample]]))
    return {"index_s": index_s, "search_ms": times, "results": results,
            "resident_mb": resident, "peak_mb": _peak_mb(), "load_s": None}  # fmt: skip


def child_bm25s(size: int, backend: str) -> dict[str, Any]:
    """bm25s (Robertson idf, as BM25Okapi) from the cached tokens, saved and memory-mapped."""
    import gc
    import shutil

    import bm25s

    from askbot.search.analysis import Analyzer

    docs, terms = _load_tokens(size)
    vocab = {t: i for i, t in enumerate(terms)}
    gc.disable()
    t0 = time.perf_counter()
    model = bm25s.BM25(method="robertson", backend=backend)
    model.index((docs, vocab), show_progress=False)
    index_s = time.perf_counter() - t0
    gc.enable()
    del docs
    target = OUT / f"bm25s-{backend}-{size}"
    shutil.rmtree(target, ignore_errors=True)
    model.save(str(target))
    del model
    t0 = time.perf_counter()
    model = bm25s.BM25.load(str(target), mmap=True)
    if backend == "numba":
        model.backend = "numba"
    load_s = time.perf_counter() - t0
    analyzer = Analyzer()
    known = model.vocab_dict
    qs = [[t for t in analyzer.terms(q) if t in known] for q in questions()]

    def top(q: list[str]) -> list[int]:
        if not q:
            return []
        res, _scores = model.retrieve([q], k=K, show_progress=False, n_threads=1)
        return [int(d) for d in res[0]]

    t0 = time.perf_counter()
    top(qs[0])
    first_ms = (time.perf_counter() - t0) * 1000
    times = _timed_rounds(top, qs, rounds=1)
    results = [top(q) for q in qs]
    return {"index_s": index_s, "load_s": load_s, "first_query_ms": first_ms,
            "search_ms": times, "results": results, "resident_mb": _resident_mb(),
            "peak_mb": _peak_mb()}  # fmt: skip


def _run_child(*args: str, timeout: float = 3600) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def whole_process_ask(size: int, question: str, runs: int = 5) -> float:
    """Median seconds of `python -m askbot ask --json QUESTION` against the saved index.

    askbot's modules are compiled to bytecode first, as `pip install` leaves them: where
    PYTHONDONTWRITEBYTECODE is set (this machine sets it) an editable install would otherwise
    recompile every module in every process, ~0.1-0.2 s no installed askbot pays.
    """
    import compileall

    import askbot

    compileall.compile_dir(Path(askbot.__file__).parent, quiet=1)
    env = {
        **os.environ,
        "ASKBOT_CORPUS_DIR": str(corpus_dir(size)),
        "ASKBOT_DATA_DIR": str(DATA / f"askbot-{size}"),
    }
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "askbot", "ask", "--json", question],
            capture_output=True, text=True, env=env, timeout=600,
        )  # fmt: skip
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"askbot ask failed: {proc.stderr[-2000:]}")
    return statistics.median(times)


# -- the report ------------------------------------------------------------------------------


def exactness(results: list[list[int]], ref: np.ndarray) -> tuple[int, int]:
    """(questions whose every hit scores >= the true k-th best, questions with the same list)."""
    ok = same = 0
    for i in range(ref.shape[0]):
        scores = ref[i]
        matching = int((scores != 0).sum())
        want = min(K, matching)
        order = sorted(np.flatnonzero(scores).tolist(), key=lambda d: (-scores[d], d))[:want]
        kth = scores[order[-1]] if order else 0.0
        got = results[i]
        if len(got) == want and all(scores[d] >= kth - 1e-9 for d in got):
            ok += 1
        same += got == order
    return ok, same


def run(sizes: list[int], baselines: set[str], sample: int) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    qs = questions()
    lines = [
        "| passages | engine | build s | build peak MB | resident MB | load s | first query ms "
        "| search p50 / p95 ms | answer p50 / p95 ms | exact (sample) | p50 vs askbot |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    pruning_lines = []
    for size in sizes:
        generate_corpus(size)
        rows: dict[str, dict[str, Any]] = {}
        print(f"[{size}] preparing tokens for the baselines", file=sys.stderr, flush=True)
        prep = _run_child("prepare", str(size))
        print(f"[{size}] askbot build", file=sys.stderr, flush=True)
        build = _run_child("askbot-build", str(size))
        print(f"[{size}] askbot queries", file=sys.stderr, flush=True)
        query = _run_child("askbot-query", str(size), build["path"], str(sample))
        rows["askbot"] = {**build, **query}
        rows["askbot"]["whole_ask_s"] = whole_process_ask(size, qs[0])
        if "rank-bm25" in baselines and size <= 100_000:
            print(f"[{size}] rank-bm25", file=sys.stderr, flush=True)
            rows["rank-bm25"] = _run_child("rank-bm25", str(size), str(sample))
        if "bm25s" in baselines:
            for backend in ("numpy", "numba"):
                print(f"[{size}] bm25s {backend}", file=sys.stderr, flush=True)
                try:
                    rows[f"bm25s-{backend}"] = _run_child("bm25s", str(size), backend)
                except RuntimeError as exc:
                    print(f"bm25s {backend} skipped: {exc}", file=sys.stderr)
        ref = np.load(OUT / f"reference-{size}.npy")
        base = _pct(rows["askbot"]["search_ms"], 50)
        for name, r in rows.items():
            if name != "askbot":
                r["build_s"] = prep["read_split_s"] + prep["tokenise_s"] + r["index_s"]
            ok, same = exactness(r["results"], ref)
            p50, p95 = _pct(r["search_ms"], 50), _pct(r["search_ms"], 95)
            answer = (
                f"{_pct(r['answer_ms'], 50):.2f} / {_pct(r['answer_ms'], 95):.2f}"
                if "answer_ms" in r else "-"
            )  # fmt: skip
            first = r.get("first_query_ms")
            lines.append(
                f"| {size:,} | {name} | {r['build_s']:.1f} | {r['peak_mb']:.0f} | "
                f"{r['resident_mb']:.0f} | {r['load_s'] if r['load_s'] is None else round(r['load_s'], 3)} | "
                f"{'-' if first is None else f'{first:.1f}'} | {p50:.3f} / {p95:.3f} | {answer} | "
                f"{ok}/{ref.shape[0]} ({same} same order) | {p50 / base:.1f}x |"
            )
        a = rows["askbot"]
        lines.append(
            f"|  | askbot details | build_index {a['build_index_s']}s (read+split+tokenise for "
            f"baselines: {prep['read_split_s']:.1f}+{prep['tokenise_s']:.1f}s), fork workers' peak "
            f"{a['worker_peak_mb']:.0f} MB; first answer of a fresh process "
            f"{a['first_answer_ms']:.0f} ms; whole-process `askbot ask` {a['whole_ask_s']:.2f} s; "
            f"compiled search kernel: {'yes' if a['compiled'] else 'NO (numpy fallback)'} |"
            " | | | | | | | | |"
        )
        groups: dict[str, list[int]] = {}
        for i, n_terms in enumerate(a["query_terms"]):
            groups.setdefault(str(min(n_terms, 5)), []).append(i)
        groups["all"] = list(range(len(a["query_terms"])))
        for label in sorted(groups, key=lambda g: (g == "all", g)):
            idx = groups[label]
            pr_l = [a["search_ms"][i] for i in idx]
            ex_l = [a["exhaustive_ms"][i] for i in idx]
            read = [
                a["scanned"][i] / a["postings_touched"][i] if a["postings_touched"][i] else 1.0
                for i in idx
            ]
            pruning_lines.append(
                f"| {size:,} | {label} | {len(idx)} | {_pct(ex_l, 50):.3f} / {_pct(ex_l, 95):.3f} | "
                f"{_pct(pr_l, 50):.3f} / {_pct(pr_l, 95):.3f} | {_pct(ex_l, 50) / _pct(pr_l, 50):.1f}x | "
                f"{100 * _pct(read, 50):.0f}% / {100 * _pct(read, 5):.0f}% | "
                f"{_pct([a['probed'][i] for i in idx], 50):.0f} | "
                f"{_pct([a['met'][i] for i in idx], 50):.0f} |"
            )
        (OUT / f"rows-{size}.json").write_text(json.dumps(rows))
    report = "\n".join(lines)
    report += (
        "\n\nPruning (askbot's compiled search, same index): every posting scanned vs MaxScore, "
        "by distinct query terms; postings scanned as a share of the query terms' postings "
        "(median / 5th percentile), passages probed by galloping search and passages met (bounds "
        "accumulated; the others were skipped as unable to reach the top 10) (medians)\n\n"
        "| passages | query terms | questions | unpruned p50 / p95 ms | pruned p50 / p95 ms "
        "| speed-up at p50 | postings scanned | probes | passages met |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(pruning_lines)
    )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--baselines", default="rank-bm25,bm25s")
    parser.add_argument("--sample", type=int, default=50, help="questions checked for exactness")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, nargs="+", help="only generate these corpora")
    args = parser.parse_args()
    if args.generate:
        for size in args.generate:
            generate_corpus(size)
        return 0
    if args.child:
        name, size, *rest = args.child
        n = int(size)
        OUT.mkdir(parents=True, exist_ok=True)
        if name == "prepare":
            out = child_prepare(n)
        elif name == "askbot-build":
            out = child_askbot_build(n)
        elif name == "askbot-query":
            out = child_askbot_query(n, rest[0], int(rest[1]))
        elif name == "rank-bm25":
            out = child_rank_bm25(n, int(rest[0]))
        elif name == "bm25s":
            out = child_bm25s(n, rest[0])
        else:
            raise SystemExit(f"unknown child {name}")
        print(json.dumps(out))
        return 0
    baselines = {b.strip() for b in args.baselines.split(",") if b.strip()}
    started = time.perf_counter()
    report = run(args.sizes, baselines, args.sample)
    print(report)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    (OUT / "report.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
