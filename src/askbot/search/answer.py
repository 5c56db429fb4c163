"""Hits -> Answer: citations, highlights, filters, who said what, and "not in the corpus"."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from askbot.search.analysis import SPEECH_TERM, Analyzer, clean_text
from askbot.search.corpus import speaker_role
from askbot.search.index import Index, coverage_idf
from askbot.search.models import Answer, Citation, CitedPassage, Hit, Span
from askbot.search.query import Filters, QueryError, normalise_date, parse_question
from askbot.search.rerank import (
    ParagraphMatch,
    RerankWeights,
    coverage,
    okapi_score,
    paragraph_docs,
    rerank,
    term_frequencies,
)
from askbot.search.speakers import (
    SpeakerQuestion,
    matching_speakers,
    parse_speaker_question,
    quoted_passages,
)

# Names and numbers pin a question to specific things, so they count double when judging whether
# passages support it. On the even-numbered SQuAD dev questions this refuses fewer answerable
# questions for as many unanswerable ones caught (2.5% vs 2.9% at 65%) than counting them once.
KEY_TERM_WEIGHT = 2.0
# Share of the question's weight (key terms doubled) the cited passages must contain to count as
# an answer. Chosen on the even-numbered SQuAD dev questions so that under 3% of them (all
# answerable) go unanswered while most of them, asked of a corpus without their article, do
# (bench/squad.py reports both, on both halves).
DEFAULT_MIN_COVERAGE = 0.45
STRONG_COVERAGE = 0.9
# The answer is judged on this many of its best passages whatever top_k is, so asking to see
# more passages does not make the bot more willing to answer.
JUDGED_PASSAGES = 3
MAX_QUESTION_CHARS = 10_000
# With filters, BM25 first fetches this many times the candidates and drops the disallowed ones;
# only when too few survive are the allowed passages scored on their own.
FILTER_OVERSAMPLE = 10
# Allowed passages beyond those are checked this many at a time (see filtered_search).
FILTER_BLOCK = 64
# A speaker quoted more often than this is answered from the quotes that score best for the
# question, so a question about a much-quoted leader stays fast on a large corpus.
MAX_QUOTED_PASSAGES = 300

NO_TERMS = (
    "The question has no words to search for (only stopwords, emoji or punctuation). "
    'Ask about a person, place or event, e.g. "What did Biegun say?"'
)
NOT_FOUND = "Nothing in the corpus answers this question."

_CONFIDENCE_ORDER = ("none", "weak", "partial", "strong")
# Punctuation after which a capital letter starts a sentence rather than marks a name.
_SENTENCE_OPENERS = frozenset(".!?:;\"'“‘(¿¡-–—")


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """How many passages to cite and how sure the answer must be."""

    top_k: int = 3
    min_coverage: float = DEFAULT_MIN_COVERAGE
    candidates: int = 30
    rerank: RerankWeights = field(default_factory=RerankWeights)
    # For benchmarks and debugging: cite the closest passages even when the answer is judged
    # not to be in the corpus (answered stays False).
    always_cite: bool = False
    # Filters given apart from the question (CLI options, Discord command options), applied
    # together with any written into the question (source:, after:, before:, article:, "...").
    filters: Filters | None = None
    # Answer "what did X say (about Y)?" with X's quotes first when X is a known speaker.
    speakers: bool = True


def citation_for(index: Index, doc: int) -> Citation:
    """The citation of passage ``doc``."""
    article = index.article_of(doc)
    return Citation(
        passage_id=index.passage_id(doc),
        article_id=article.id,
        title=article.title,
        paragraph=int(index.p_paragraph[doc]),
        date=article.date,
        url=article.url,
        source=article.source,
    )


def highlight_spans(analyzer: Analyzer, text: str, terms: frozenset[str]) -> tuple[Span, ...]:
    """The character ranges of ``text`` whose terms are in ``terms``, merged when adjacent."""
    spans: list[Span] = []
    for _, start, end in analyzer.spans_of(text, terms):
        if spans and text[spans[-1].end : start].strip() == "":
            spans[-1] = Span(spans[-1].start, end)
        else:
            spans.append(Span(start, end))
    return tuple(spans)


def key_terms(analyzer: Analyzer, question: str) -> frozenset[str]:
    """The terms of the question's names and numbers: what pins it to specific things.

    A number, an acronym, or a capitalised word that does not start a sentence. Capitals mean
    nothing in a question typed all in lower or upper case, so there only numbers count.
    """
    text = clean_text(question)
    cased = text != text.lower() and text != text.upper()
    out = set()
    for term, start, end in analyzer.spans(text):
        raw = text[start:end]
        if raw[0].isdigit():
            out.add(term)
        elif cased and term != SPEECH_TERM and raw[0].isupper():
            before = text[:start].rstrip()
            acronym = len(raw) >= 2 and raw.replace(".", "").isupper()
            if acronym or (before and before[-1] not in _SENTENCE_OPENERS):
                out.add(term)
    return frozenset(out)


def term_weights(index: Index, terms: list[str]) -> dict[str, float]:
    """Each distinct question term's weight for coverage; unseen terms weigh the most."""
    weights = {
        t: coverage_idf(index.document_frequency(t), index.n_docs) for t in dict.fromkeys(terms)
    }
    # "say" alone says nothing about what the corpus should contain.
    if SPEECH_TERM in weights and len(weights) > 1:
        weights[SPEECH_TERM] = min(weights[SPEECH_TERM], 0.5)
    return weights


def support_weights(weights: Mapping[str, float], key: frozenset[str]) -> dict[str, float]:
    """The weights that judge support: key terms (names, numbers) count KEY_TERM_WEIGHT times."""
    return {t: w * KEY_TERM_WEIGHT if t in key else w for t, w in weights.items()}


def confidence(
    found: frozenset[str], weights: Mapping[str, float], key: frozenset[str], min_coverage: float
) -> tuple[str, float]:
    """How well text containing the question terms ``found`` supports it, and its weight share.

    strong: every key term and at least STRONG_COVERAGE of the question's weight (key terms
    counting KEY_TERM_WEIGHT times); partial: at least ``min_coverage`` of it; weak: less, or a
    single shared word, not a name or number, of a question of several ("weather" alone does not
    answer "What is the weather today?"); none: no question term at all.
    """
    found = frozenset(t for t in found if t in weights)
    if not found:
        return "none", 0.0
    share = coverage(support_weights(weights, key), found)
    if len(found) == 1 and len(weights) > 1 and not found & key:
        return "weak", share
    if share >= STRONG_COVERAGE and key <= found:
        return "strong", share
    if share >= min_coverage:
        return "partial", share
    return "weak", share


def judge(
    index: Index,
    matches: Sequence[ParagraphMatch],
    weights: Mapping[str, float],
    key: frozenset[str],
    min_coverage: float,
) -> tuple[str, float]:
    """The confidence of an answer citing ``matches``, and its weight share.

    The best of each passage on its own and of each article's passages together: an answer may
    draw the question's words from two paragraphs of one article (a reader sees both), but only
    a single passage that holds nearly all of them is "strong".
    """
    best = ("none", 0.0)
    by_article: dict[int, frozenset[str]] = {}
    for match in matches:
        article = int(index.p_article[match.best.doc])
        by_article[article] = by_article.get(article, frozenset()) | match.matched
        best = max(best, confidence(match.matched, weights, key, min_coverage), key=_rank)
    for found in by_article.values():
        label, share = confidence(found, weights, key, min_coverage)
        if label == "strong":
            label = "partial"
        best = max(best, (label, share), key=_rank)
    return best


def _rank(judgement: tuple[str, float]) -> tuple[int, float]:
    return _CONFIDENCE_ORDER.index(judgement[0]), judgement[1]


def unseen_numbers(index: Index, key: frozenset[str]) -> list[str]:
    """The question's numbers (years, counts) that no passage contains.

    A question about "the 2022 World Cup" cannot be answered by a corpus that never mentions
    2022, however well it covers the World Cup.
    """
    return sorted(t for t in key if t[0].isdigit() and index.document_frequency(t) == 0)


def _cited(
    index: Index, analyzer: Analyzer, match: ParagraphMatch, rank: int, terms: frozenset[str]
) -> CitedPassage:
    doc = match.best.doc
    text = index.text(doc)
    return CitedPassage(
        rank=rank,
        score=match.best.score,
        text=text,
        citation=citation_for(index, doc),
        highlights=highlight_spans(analyzer, text, terms),
        speaker=index.speaker(doc),
        also_in=tuple(citation_for(index, d) for d in match.copies),
        speaker_role=role_of(index, doc),
    )


def role_of(index: Index, doc: int) -> str:
    """The title the article gives the speaker of passage ``doc`` where it names them, or ''.

    Found at answer time (a few passages, not the whole corpus): the first passage of the same
    article that names the speaker in full and gives them a role.
    """
    name = index.speaker(doc)
    if not name:
        return ""
    article = index.article_of(doc)
    for other in range(article.first_passage, article.first_passage + article.passage_count):
        text = index.text(other)
        if name in text:
            role = speaker_role(text, name)
            if role:
                return role
    return ""


# A phrase as the index sees it: its terms, each with how many words (stopwords) came before it
# since the previous term, so "liaison office" is not found in "the liaison to the office".
Phrase = tuple[tuple[str, int], ...]
_WORD = re.compile(r"[^\W_]+")


def phrase_terms(analyzer: Analyzer, text: str) -> Phrase:
    """The terms of ``text`` with the count of dropped words before each (0 for the first)."""
    out: list[tuple[str, int]] = []
    end = None
    for term, start, stop in analyzer.spans(text):
        gap = 0 if end is None else len(_WORD.findall(text, end, start))
        out.append((term, gap))
        end = stop
    return tuple(out)


def contains_phrase(haystack: Phrase, phrase: Phrase) -> bool:
    """Whether ``phrase``'s terms occur in ``haystack`` in order, with the same gaps between.

    A search engine's phrase query: words match by their terms (stemmed, "conceptions" is
    "conception"), and a dropped stopword still takes its place ("Walking Into Fresno" matches
    "walking in Fresno").
    """
    if not phrase:
        return True
    first = phrase[0][0]
    n = len(phrase)
    for i in range(len(haystack) - n + 1):
        if haystack[i][0] == first and all(
            haystack[i + j][0] == phrase[j][0] and haystack[i + j][1] == phrase[j][1]
            for j in range(1, n)
        ):
            return True
    return False


class PassageFilter:
    """Which passages the filters allow; articles are judged once each and remembered."""

    def __init__(self, index: Index, analyzer: Analyzer, filters: Filters) -> None:
        self.index = index
        self.analyzer = analyzer
        self.filters = filters
        self._articles: dict[int, bool] = {}
        self._phrases = [(p, phrase_terms(analyzer, p)) for p in filters.phrases]
        # Two terms that follow each other in a phrase must follow each other in the passage.
        self._pairs = frozenset(
            (a, b) for _, phrase in self._phrases for (a, _), (b, _) in itertools.pairwise(phrase)
        )
        # Only phrases: every article passes, and none need be read.
        self._every_article = not (
            filters.sources or filters.after or filters.before or filters.articles
        )

    def allows_article(self, row: int) -> bool:
        """Whether article ``row`` passes the source, date and article filters."""
        if self._every_article:
            return True
        ok = self._articles.get(row)
        if ok is None:
            info = self.index.articles[row]
            ok = self._articles[row] = self.filters.allows_article(info.id, info.source, info.date)
        return ok

    def allows_text(self, text: str) -> bool:
        """Whether ``text`` holds every quoted phrase, word for word as the index sees words
        (a phrase of stopwords only, literally)."""
        terms = None  # the text's phrase terms, found only if a phrase has terms
        for raw, phrase in self._phrases:
            if not phrase:
                if not Filters(phrases=(raw,)).allows_text(text):
                    return False
                continue
            if terms is None:
                terms = phrase_terms(self.analyzer, text)
            if not contains_phrase(terms, phrase):
                return False
        return True

    def may_pass(self, docs: Sequence[int]) -> list[bool]:
        """For each of ``docs``, False when a quoted phrase has a term the passage lacks.

        Read from the postings, without the passage's text: such a passage cannot hold the
        phrase, so only the others need ``__call__``'s word-by-word check.
        """
        index = self.index
        ok = np.ones(len(docs), dtype=bool)
        if not docs or not self._phrases:
            return ok.tolist()
        keys = np.asarray(docs, dtype=np.int64)
        if index.n_docs <= np.iinfo(index.docs.dtype).max:  # searched in the postings' dtype
            keys = keys.astype(index.docs.dtype)
        for _, phrase in self._phrases:
            for term in dict.fromkeys(t for t, _ in phrase):
                t = index.vocab.get(term)
                posted = np.asarray(
                    index.docs[int(index.indptr[t]) : int(index.indptr[t + 1])]
                    if t is not None
                    else index.docs[:0]
                )
                if not posted.size:
                    return [False] * len(docs)
                at = np.minimum(np.searchsorted(posted, keys), posted.shape[0] - 1)
                ok &= posted[at] == keys
        result: list[bool] = ok.tolist()
        return result

    def may_hold(self, docs: Sequence[int]) -> list[bool]:
        """``may_pass``, and False too when two consecutive terms of a phrase are not adjacent
        among the passage's terms.

        Adjacency is found for all of ``docs`` at once (``Analyzer.adjacent_pairs``), only for
        texts that ``terms`` and ``spans`` read alike (printable, no chat markup): the others,
        like the passages that may hold the phrases, get ``__call__``'s exact check.
        """
        maybe = self.may_pass(docs)
        if not self._pairs:
            return maybe
        read = [(i, self.index.text(docs[i])) for i, m in enumerate(maybe) if m]
        alike = [(i, t) for i, t in read if t.isprintable() and "<" not in t and "@" not in t]
        found = self.analyzer.adjacent_pairs([[t] for _, t in alike], self._pairs)
        for (i, _), pairs in zip(alike, found, strict=True):
            if not self._pairs.issubset(pairs):
                maybe[i] = False
        return maybe

    def __call__(self, doc: int) -> bool:
        """Whether passage ``doc`` passes every filter, quoted phrases included."""
        if not self.allows_article(int(self.index.p_article[doc])):
            return False
        return self.allows_text(self.index.text(doc))

    def passage_mask(self) -> npt.NDArray[np.bool_]:
        """A boolean per passage: its article passes, and it holds every word of each phrase.

        A superset of the allowed passages (a phrase's words may be apart): exact phrases are
        checked on the few passages that rank.
        """
        index = self.index
        rows: Iterable[int] = range(len(index.articles))
        if self.filters.articles:  # selective: only the named articles' metadata is read
            rows = [
                row
                for article_id, row in index.article_by_id.items()
                if self.filters.allows_article(article_id, None, None)
            ]
        if self._every_article:
            articles = np.ones(len(index.articles), dtype=bool)
        else:
            articles = np.zeros(len(index.articles), dtype=bool)
            articles[[row for row in rows if self.allows_article(row)]] = True
        mask: npt.NDArray[np.bool_] = articles[np.asarray(index.p_article)]
        for _, phrase in self._phrases:
            for term in dict.fromkeys(t for t, _ in phrase):
                has = np.zeros(index.n_docs, dtype=bool)
                t = index.vocab.get(term)
                if t is not None:
                    s, e = int(index.indptr[t]), int(index.indptr[t + 1])
                    has[np.asarray(index.docs[s:e])] = True
                mask &= has
        return mask


def filtered_search(
    index: Index,
    analyzer: Analyzer,
    terms: Sequence[str],
    k: int,
    allowed: PassageFilter | None,
) -> list[Hit]:
    """The top ``k`` passages for ``terms`` that ``allowed`` admits, with exact BM25 scores.

    The best allowed passages of the top ``k * FILTER_OVERSAMPLE`` are the best allowed overall;
    when fewer than ``k`` of them are allowed, only allowed passages are scored.
    """
    if allowed is None:
        return index.search(terms, k)
    wide = k * FILTER_OVERSAMPLE
    hits = index.search(terms, wide)
    maybe = allowed.may_hold([h.doc for h in hits])
    kept = [h for h, m in zip(hits, maybe, strict=True) if m and allowed(h.doc)]
    if len(kept) >= k or len(hits) < wide:
        return kept[:k]
    mask = allowed.passage_mask()
    docs: list[npt.NDArray[np.int64]] = []
    weights: list[npt.NDArray[np.float64]] = []
    for term in terms:  # repeated terms count again, as in BM25Okapi
        t = index.vocab.get(term)
        if t is None:
            continue
        s, e = int(index.indptr[t]), int(index.indptr[t + 1])
        posted = np.asarray(index.docs[s:e])
        keep = mask[posted]
        docs.append(posted[keep].astype(np.int64))
        weights.append(index.term_weights(t, np.flatnonzero(keep)))
    if not docs or not sum(d.size for d in docs):
        return []
    unique, inverse = np.unique(np.concatenate(docs), return_inverse=True)
    scores = np.bincount(inverse, weights=np.concatenate(weights))
    out: list[Hit] = []
    order = np.lexsort((unique, -scores)).tolist()
    # In order of score, a block at a time: the cheap checks for the block, then the exact one
    # for the passages that may pass.
    for b in range(0, len(order), FILTER_BLOCK):
        block = order[b : b + FILTER_BLOCK]
        maybe = allowed.may_hold([int(unique[i]) for i in block])
        for i, may in zip(block, maybe, strict=True):
            if may and allowed(int(unique[i])):
                out.append(Hit(int(unique[i]), float(scores[i])))
                if len(out) >= k:
                    return out
    return out


def passage_scores(
    index: Index, terms: Sequence[str], docs: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """BM25Okapi of ``terms`` for each passage of ``docs`` (ascending), from the postings."""
    scores = np.zeros(docs.shape[0], dtype=np.float64)
    # Searched in the postings' own dtype: with another, searchsorted would first copy the
    # whole posting list.
    keys = docs.astype(index.docs.dtype) if index.n_docs <= np.iinfo(index.docs.dtype).max else docs
    for term in terms:
        t = index.vocab.get(term)
        if t is None or not docs.size:
            continue
        s, e = int(index.indptr[t]), int(index.indptr[t + 1])
        posted = np.asarray(index.docs[s:e])
        at = np.minimum(np.searchsorted(posted, keys), posted.shape[0] - 1)
        found = posted[at] == docs
        scores[found] += index.term_weights(t, at[found])
    return scores


def _paragraph_spans(index: Index, docs: npt.NDArray[np.int64]) -> list[range]:
    """The paragraphs (runs of windows) holding ``docs`` (ascending), each once."""
    article = np.asarray(index.p_article)[docs]
    paragraph = np.asarray(index.p_paragraph)[docs]
    starts = np.ones(docs.shape[0], dtype=bool)
    starts[1:] = (
        (docs[1:] != docs[:-1] + 1)
        | (article[1:] != article[:-1])
        | (paragraph[1:] != paragraph[:-1])
    )
    bounds = np.append(np.flatnonzero(starts), docs.shape[0]).tolist()
    window = np.asarray(index.p_window)
    spans: list[range] = []
    for a, b in itertools.pairwise(bounds):
        first, last = int(docs[a]), int(docs[b - 1])
        # A quoted paragraph's windows all share its speaker, so a run is usually the whole
        # paragraph; only a run cut short (by the MAX_QUOTED_PASSAGES cap) is looked up.
        whole = window[first] <= 1 and (last + 1 >= index.n_docs or window[last + 1] <= 1)
        span = range(first, last + 1) if whole else paragraph_docs(index, first)
        if not spans or spans[-1] != span:  # two runs of one cut paragraph are one span
            spans.append(span)
    return spans


def speaker_matches(
    index: Index,
    analyzer: Analyzer,
    asked: SpeakerQuestion,
    terms: Sequence[str],
    allowed: PassageFilter | None = None,
    limit: int = JUDGED_PASSAGES,
) -> list[ParagraphMatch]:
    """The quoted paragraphs of the speaker named by a "what did X say (about Y)?" question.

    [] when X is no known speaker. Ordered by relevance to Y (the share of Y's term weight the
    paragraph holds; all equal when there is no Y), then grouped by article, newest article
    first (undated last), paragraphs in reading order. ``matched`` holds the terms of ``terms``
    and of Y that the paragraph contains. A speaker quoted in more than MAX_QUOTED_PASSAGES
    passages is judged on those that score best for the question; the first ``limit`` matches
    are shown by their best window.
    """
    speakers = matching_speakers(index, analyzer, asked.name)
    docs = quoted_passages(index, analyzer, speakers)
    if allowed is not None:
        docs = docs[[allowed(int(d)) for d in docs.tolist()]] if docs.size else docs
    if not docs.size:
        return []
    topic_weights = _topic_weights(index, analyzer, asked.topic)
    wanted = list(dict.fromkeys([*terms, *topic_weights]))
    if docs.shape[0] > MAX_QUOTED_PASSAGES:
        scores = passage_scores(index, wanted, docs)
        keep = np.lexsort((docs, -scores))[:MAX_QUOTED_PASSAGES]
        docs = np.sort(docs[keep])
    spans = _paragraph_spans(index, docs)
    tfs = term_frequencies(index, wanted, spans)
    matches = []
    for span, tf in zip(spans, tfs, strict=True):
        found = frozenset(tf)
        relevance = coverage(topic_weights, found) if topic_weights else 0.0
        matches.append(
            ParagraphMatch(
                docs=span, best=Hit(span.start, 0.0), bm25=0.0, coverage=relevance,
                proximity=0.0, matched=found, score=relevance,
            )
        )  # fmt: skip
    days: dict[int, tuple[bool, str]] = {}

    def newest(match: ParagraphMatch) -> tuple[bool, str]:
        row = int(index.p_article[match.docs.start])
        if row not in days:
            day = normalise_date(index.articles[row].date or "")
            days[row] = (day is not None, day or "")
        return days[row]

    # Stable sorts, least significant key first.
    matches.sort(key=lambda m: m.docs.start)
    matches.sort(key=newest, reverse=True)
    matches.sort(key=lambda m: m.score, reverse=True)
    out = _collapse_copies(index, matches)
    # Only the matches that can be shown or judged are scored (BM25 of the whole paragraph) and
    # shown by the window that holds most of the question.
    for i, match in enumerate(out[:limit]):
        span = match.docs
        [tf] = term_frequencies(index, terms, [span])
        score = okapi_score(index, terms, tf, int(index.doc_len[span.start : span.stop].sum()))
        best = span.start
        if len(span) > 1:
            windows = passage_scores(index, terms, np.arange(span.start, span.stop))
            best += int(np.argmax(windows))
        out[i] = replace(match, best=Hit(best, score), bm25=score)
    return out


def _collapse_copies(index: Index, matches: list[ParagraphMatch]) -> list[ParagraphMatch]:
    """The same quote syndicated in two articles: kept once, naming the other as a copy."""
    first: dict[int, int] = {}
    out: list[ParagraphMatch] = []
    copies: dict[int, list[int]] = {}
    for match in matches:
        text_hash = int(index.p_hash[match.best.doc])
        if len(match.docs) == 1 and text_hash in first:
            copies.setdefault(first[text_hash], []).append(match.best.doc)
            continue
        first.setdefault(text_hash, len(out))
        out.append(match)
    for i, extra in copies.items():
        m = out[i]
        out[i] = replace(m, copies=tuple(extra))
    return out


def _judged(
    index: Index,
    matches: Sequence[ParagraphMatch],
    weights: Mapping[str, float],
    key: frozenset[str],
    min_coverage: float,
) -> tuple[str, float]:
    if unseen_numbers(index, key):
        return "none", 0.0
    return judge(index, matches[:JUDGED_PASSAGES], weights, key, min_coverage)


def _topic_weights(index: Index, analyzer: Analyzer, topic: str) -> dict[str, float]:
    terms = [t for t in analyzer.terms(topic) if t != SPEECH_TERM]
    return {t: coverage_idf(index.document_frequency(t), index.n_docs) for t in terms}


def _speaker_answer(
    index: Index,
    analyzer: Analyzer,
    asked: SpeakerQuestion,
    terms: Sequence[str],
    ordinary: Callable[[], Sequence[ParagraphMatch]],
    allowed: PassageFilter | None,
    options: AnswerOptions,
) -> tuple[list[ParagraphMatch], str, float] | None:
    """X's quotes first, then the best other paragraphs about X and Y, judged; or None.

    None (answer as usual) when X is no known speaker, when X's quotes do not support the
    question, or when the best ordinary paragraph speaks to Y more fully than any of X's quotes
    ("What did Luther think reason could not test?" is answered by a paragraph about Luther's
    thought, not by his quotes on other things).
    """
    limit = max(options.top_k, JUDGED_PASSAGES)
    quoted = speaker_matches(index, analyzer, asked, terms, allowed, limit)
    if not quoted:
        return None
    topic = _topic_weights(index, analyzer, asked.topic)
    if topic and (ranked := ordinary()) and quoted[0].score < coverage(topic, ranked[0].matched):
        return None
    # Judged on the name and topic alone: "quotes", "comments" or "think" in the question say
    # how to answer, not what the passages must contain.
    content = analyzer.terms(f"{asked.name} {asked.topic}")
    key = key_terms(analyzer, f"{asked.name} {asked.topic}")
    best, share = _judged(index, quoted, term_weights(index, content), key, options.min_coverage)
    if best not in ("strong", "partial"):
        return None
    if len(quoted) >= options.top_k:  # X's quotes fill the answer
        return quoted[:limit], best, share
    shown = quoted[: options.top_k]
    seen = {(int(index.p_article[m.best.doc]), m.docs.start) for m in shown}
    # The rest of the answer: what else the corpus says of X and Y.
    fill_terms = [*content, SPEECH_TERM]
    fill_hits = filtered_search(
        index, analyzer, fill_terms, max(options.candidates, options.top_k), allowed
    )
    others = rerank(
        index,
        analyzer,
        fill_terms,
        term_weights(index, fill_terms),
        fill_hits,
        limit + len(shown),
        options.rerank,
    )
    fill = [m for m in others if (int(index.p_article[m.best.doc]), m.docs.start) not in seen]
    return [*shown, *fill][:limit], best, share


def _no_match_reason(index: Index, terms: Sequence[str], filters: Filters) -> str:
    if filters and index.search(terms, 1):
        return f"No passage {filters.describe()} matches."
    return NOT_FOUND


def build_answer(
    question: str, index: Index, analyzer: Analyzer, options: AnswerOptions | None = None
) -> Answer:
    """Answer ``question`` from ``index`` with the top passages and their citations.

    Filters written into the question (source:, after:, before:, article:, "phrases") and in
    ``options.filters`` restrict the passages. BM25 finds the candidates; they are re-ranked as
    paragraphs (``rerank``); a "what did X say (about Y)?" question about a known speaker lists
    X's quotes first (``speaker_matches``). The answer is judged on how much of the question its
    best passages contain (``confidence``).
    """
    options = options or AnswerOptions()
    try:
        parsed = parse_question(question[:MAX_QUESTION_CHARS])
    except QueryError as exc:
        return Answer(question=question, answered=False, passages=(), reason=str(exc))
    filters = parsed.filters.merged(options.filters) if options.filters else parsed.filters
    text = parsed.text
    terms = analyzer.terms(text)
    if not terms:
        return Answer(question=question, answered=False, passages=(), reason=NO_TERMS)
    weights = term_weights(index, terms)
    key = key_terms(analyzer, text)
    allowed = PassageFilter(index, analyzer, filters) if filters else None
    limit = max(options.top_k, JUDGED_PASSAGES)

    @functools.cache
    def ordinary() -> tuple[list[Hit], list[ParagraphMatch]]:
        """The plain BM25 + re-rank answer, computed once and only when needed."""
        hits = filtered_search(
            index, analyzer, terms, max(options.candidates, options.top_k), allowed
        )
        return hits, rerank(index, analyzer, terms, weights, hits, limit, options.rerank)

    asked = parse_speaker_question(text) if options.speakers else None
    quotes = (
        _speaker_answer(index, analyzer, asked, terms, lambda: ordinary()[1], allowed, options)
        if asked
        else None
    )
    if quotes is not None:
        shown, best, share = quotes
    else:
        shown = ordinary()[1]
        best, share = _judged(index, shown, weights, key, options.min_coverage)
    answered = best in ("strong", "partial")
    term_set = frozenset(terms)
    passages = (
        tuple(
            _cited(index, analyzer, m, rank, term_set)
            for rank, m in enumerate(shown[: options.top_k], start=1)
        )
        if answered or options.always_cite
        else ()
    )
    reason = ""
    if not answered:
        reason = NOT_FOUND if ordinary()[0] else _no_match_reason(index, terms, filters)
    return Answer(
        question=question,
        answered=answered,
        passages=passages,
        confidence=best,
        coverage=share,
        reason=reason,
        terms=tuple(terms),
    )
