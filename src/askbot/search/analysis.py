"""The one Analyzer used for passages and questions: normalise, tokenise, stop, stem."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence, Set
from itertools import accumulate, chain, compress, islice
from operator import not_
from typing import TypeVar

import numpy as np
import Stemmer

try:
    from askbot.search import _chunks
except ImportError:  # pragma: no cover - installed without a C compiler: terms found in Python
    _chunks = None  # type: ignore[assignment]

# str.isprintable, compiled: reads Latin-1 text by table, not each character's Unicode record.
_isprintable: Callable[[str], bool] = str.isprintable if _chunks is None else _chunks.isprintable

ANALYZER_VERSION = 2

# Standard English stopwords (NLTK's list plus apostrophe-less contractions and a few
# question fillers), so that "what did ... say" leaves only the content words.
STOPWORDS: frozenset[str] = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "ain",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren",
        "arent",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "couldn",
        "couldnt",
        "d",
        "did",
        "didn",
        "didnt",
        "do",
        "does",
        "doesn",
        "doesnt",
        "doing",
        "dont",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "hadn",
        "hadnt",
        "has",
        "hasn",
        "hasnt",
        "have",
        "haven",
        "havent",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "isn",
        "isnt",
        "it",
        "its",
        "itself",
        "just",
        "ll",
        "m",
        "ma",
        "me",
        "mightn",
        "mightnt",
        "more",
        "most",
        "mustn",
        "mustnt",
        "my",
        "myself",
        "needn",
        "neednt",
        "no",
        "nor",
        "not",
        "now",
        "o",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "re",
        "s",
        "same",
        "shan",
        "shant",
        "she",
        "shes",
        "should",
        "shouldn",
        "shouldnt",
        "shouldve",
        "so",
        "some",
        "such",
        "t",
        "than",
        "that",
        "thatll",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "ve",
        "very",
        "was",
        "wasn",
        "wasnt",
        "we",
        "were",
        "weren",
        "werent",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "wont",
        "wouldn",
        "wouldnt",
        "y",
        "you",
        "youd",
        "youll",
        "your",
        "youre",
        "yours",
        "yourself",
        "yourselves",
        "youve",
        "also",
        "would",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "whose",
        "please",
        "us",
    ]
)

# Speech verbs collapse to one term so that "what did X say" matches "X said" / "he noted".
# Only forms that are rarely anything but speech are listed ("states" is a noun too often).
SPEECH_VERBS: frozenset[str] = frozenset(
    [
        "say",
        "says",
        "said",
        "saying",
        "tell",
        "tells",
        "told",
        "telling",
        "noted",
        "added",
        "stated",
        "remarked",
        "commented",
        "explained",
        "insisted",
        "declared",
        "replied",
        "asserted",
        "stressed",
    ]
)
SPEECH_TERM = "say"

_TRANSLATE = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "′": "'",
        "`": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "″": '"',
        "«": '"',
        "»": '"',
        "–": "-",
        "—": "-",
        "‐": "-",
        "‑": "-",
        "−": "-",
    }
)

# Characters that are invisible or control codes: removed from text before it is stored or
# analysed, so a zero-width space cannot split "Bie\u200bgun" into two words or hide a ping.
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
    "\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)

# Dotted acronyms (U.S., e.g.), numbers with separators (1,000 / 3.5), words with inner
# apostrophes (Pyongyang's). Hyphens and other dots split: Jong-un -> jong un, N.Korea -> korea.
_TOKEN = re.compile(r"(?:[^\W\d_]\.){2,}|\d+(?:[.,]\d+)*|[^\W_]+(?:'[^\W_]+)*")


# Chat markup is addressing, not content: user, role and channel mentions, custom emoji,
# @everyone and @here. Replaced by spaces of the same length so spans stay aligned.
_CHAT_MARKUP = re.compile(r"<(?:@[!&]?|#)\d+>|<a?:\w+:\d+>|@(?:everyone|here)\b")


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())


def clean_text(text: str) -> str:
    """Text as it is stored and shown: curly quotes kept, invisible and control chars removed."""
    return _INVISIBLE.sub("", text)


# Entries kept per analyzer cache before it is emptied: a bot analyses questions and passages
# for weeks, and its input is unbounded; a cache miss costs only a few microseconds.
CACHE_ENTRIES = 1 << 18


_CHUNK = re.compile(r"\S+")
_T = TypeVar("_T")


class _ChunkCache(dict[str, tuple[_T, ...]]):
    """Whitespace-separated chunk -> what ``analyse`` makes of it, computed on first use.

    No token spans whitespace, so a text's terms are its chunks' terms in order; looking chunks
    up in a dict (``map`` over ``__getitem__``, in C) is several times faster than running the
    token pattern and the per-token cache over the whole text again. Emptied when full.
    """

    def __init__(self, analyse: Callable[[str], tuple[_T, ...]]) -> None:
        super().__init__()
        self._analyse = analyse

    def __missing__(self, chunk: str) -> tuple[_T, ...]:
        if len(self) >= CACHE_ENTRIES:
            self.clear()
        found = self[chunk] = self._analyse(chunk)
        return found


Pair = tuple[str, str]
# Two term ids as the chunk table writes them (int32, native order).
_ID_PAIR = struct.Struct("=ii")


def adjacent_in(pairs: Set[tuple[_T, _T]], terms: Iterable[_T]) -> list[tuple[_T, _T]]:
    """The members of ``pairs`` that occur as adjacent items of ``terms``, by first occurrence.

    C loops only (zip, filter, dict.fromkeys): a paragraph has a hundred terms, a question a
    few pairs.
    """
    seq = terms if isinstance(terms, list) else list(terms)
    following = islice(seq, 1, None)
    return list(dict.fromkeys(filter(pairs.__contains__, zip(seq, following, strict=False))))


def _spans_in_text(
    text: str,
    lengths: Iterable[int],
    hit: list[int],
    hit_spans: list[tuple[tuple[str, int, int], ...]],
    wanted: Set[str],
) -> list[tuple[str, int, int]]:
    """The spans of ``wanted`` terms in ``text``: chunk ``hit[k]`` (of the chunks of ``lengths``
    characters, in order) holds ``hit_spans[k]``, relative to where the chunk starts."""
    ends = list(accumulate(lengths))
    # As many whitespace characters as gaps between chunks: one between each two and none
    # at either end, so a chunk starts one character after the ones before it.
    if ends[-1] + len(ends) - 1 == len(text):
        starts = [ends[i - 1] + i if i else 0 for i in hit]
    else:
        every = [m.start() for m in _CHUNK.finditer(text)]
        starts = [every[i] for i in hit]
    out: list[tuple[str, int, int]] = []
    for at, spans in zip(starts, hit_spans, strict=True):
        out += [(t, at + s, at + e) for t, s, e in spans if t in wanted]
    return out


class _ChunkOrdinals:
    """Whitespace chunks -> one id each, through the compiled chunk table, for highlighting.

    The table's callback gives every new chunk the next id and keeps its spans (as
    ``Analyzer.spans`` finds them) and length, and notes the chunk under each of its terms. A
    text then goes to one id per chunk in C, the chunks holding a wanted term are picked by id,
    and their offsets come from the lengths of the chunks before them.
    """

    def __init__(self, spans: Callable[[str, bool], tuple[tuple[str, int, int], ...]]) -> None:
        self._analyse = spans
        self._table = _chunks.ChunkTable(int.from_bytes(os.urandom(8), "little"))
        self._spans: list[tuple[tuple[str, int, int], ...]] = []
        self._lengths: list[int] = []
        self._with_term: dict[str, list[int]] = {}

    def full(self) -> bool:
        """Whether the table holds as many chunks as the analyzer's caches may (then renewed)."""
        return len(self._table) >= CACHE_ENTRIES

    def _add(self, chunk: str, shouted: bool) -> list[int]:
        spans = self._analyse(chunk, not shouted)
        cid = len(self._spans)
        self._spans.append(spans)
        self._lengths.append(len(chunk))
        for term in dict.fromkeys(t for t, _, _ in spans):
            self._with_term.setdefault(term, []).append(cid)
        return [cid]

    def spans_of(self, text: str, shouted: bool, wanted: Set[str]) -> list[tuple[str, int, int]]:
        """The spans of (markup-blanked) ``text`` whose term is in ``wanted``."""
        found, _ = self._table.batch([text], b"\x01" if shouted else b"\x00", self._add)
        ids = np.frombuffer(found, dtype=np.int32).tolist()
        with_term = self._with_term
        hit_ids = set(chain.from_iterable(with_term.get(t, ()) for t in wanted))
        hit = list(compress(range(len(ids)), map(hit_ids.__contains__, ids)))
        if not hit:
            return []
        spans = self._spans
        return _spans_in_text(
            text,
            map(self._lengths.__getitem__, ids),
            hit,
            [spans[ids[i]] for i in hit],
            wanted,
        )


class Analyzer:
    """Turns text into index terms; the same instance analyses passages and questions."""

    def __init__(
        self,
        language: str = "english",
        stopwords: Iterable[str] = STOPWORDS,
        *,
        compiled: bool = True,
    ) -> None:
        self.language = language
        self.stopwords = frozenset(stopwords)
        self._stemmer = Stemmer.Stemmer(language)
        # Raw token (case kept) -> term or None; bounded by the vocabulary, so it stays small
        # while making a million-passage build mostly dictionary lookups.
        self._cache_acronyms: dict[str, str | None] = {}
        self._cache_plain: dict[str, str | None] = {}
        self._chunks_acronyms = _ChunkCache(lambda chunk: self._chunk_terms(chunk, True))
        self._chunks_plain = _ChunkCache(lambda chunk: self._chunk_terms(chunk, False))
        self._spans_acronyms = _ChunkCache(lambda chunk: self._chunk_spans(chunk, True))
        self._spans_plain = _ChunkCache(lambda chunk: self._chunk_spans(chunk, False))
        # Answer-time term ids (``adjacent_pairs``) through the compiled chunk table, when built.
        self._compiled = compiled and _chunks is not None
        self._table: _chunks.ChunkTable | None = None
        self._ids: dict[str, int] = {}
        self._ordinals: _ChunkOrdinals | None = None
        self._tables_lock = threading.Lock()

    def fingerprint(self) -> str:
        """A hash of everything that changes which terms a text produces."""
        spec = {
            "version": ANALYZER_VERSION,
            "language": self.language,
            "stopwords": sorted(self.stopwords),
            "speech": sorted(SPEECH_VERBS),
            "token": _TOKEN.pattern,
            "markup": _CHAT_MARKUP.pattern,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    def _term(self, raw: str, acronyms: bool) -> str | None:
        token = unicodedata.normalize("NFKC", raw).translate(_TRANSLATE)
        if "." in token and not token[0].isdigit():
            token = token.replace(".", "")  # U.S. -> US
        if token[0].isdigit():
            token = token.replace(",", "")
            return token.lower()
        # An all-capitals word in mixed-case text is an acronym (US, WHO, IT): never a stopword.
        is_acronym = acronyms and len(token) >= 2 and token.isupper()
        lower = token.lower()
        if lower.endswith("'s"):
            lower = lower[:-2]
        lower = lower.replace("'", "")
        if not lower or (len(lower) == 1 and not is_acronym):
            return None
        if is_acronym:
            return lower
        if lower in self.stopwords:
            return None
        if lower in SPEECH_VERBS:
            return SPEECH_TERM
        stem: str = self._stemmer.stemWord(lower)
        return stem

    def _lookup(self, raw: str, acronyms: bool) -> str | None:
        cache = self._cache_acronyms if acronyms else self._cache_plain
        try:
            return cache[raw]
        except KeyError:
            if len(cache) >= CACHE_ENTRIES:
                cache.clear()
            term = cache[raw] = self._term(raw, acronyms)
            return term

    def _chunk_terms(self, chunk: str, acronyms: bool) -> tuple[str, ...]:
        found = (self._lookup(raw, acronyms) for raw in _TOKEN.findall(chunk))
        return tuple(term for term in found if term is not None)

    def _chunk_spans(self, chunk: str, acronyms: bool) -> tuple[tuple[str, int, int], ...]:
        return tuple(
            (term, match.start(), match.end())
            for match in _TOKEN.finditer(chunk)
            if (term := self._lookup(match.group(), acronyms)) is not None
        )

    def terms(self, text: str) -> list[str]:
        """The index terms of ``text``, in order, duplicates kept (BM25 counts them)."""
        # Every character clean_text removes is non-printable, so printable text is clean
        # already (isprintable is a C loop, clean_text a regex substitution).
        if not text.isprintable():
            text = clean_text(text)
        if "<" in text or "@" in text:
            text = _CHAT_MARKUP.sub(_blank, text)
        # In all-capitals text (a shouted question, a headline) capitals mean nothing.
        chunks = self._chunks_acronyms if not text.isupper() else self._chunks_plain
        return list(chain.from_iterable(map(chunks.__getitem__, text.split())))

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Each term of ``text`` with the character range it came from, for highlighting."""
        acronyms = not (text if text.isprintable() else clean_text(text)).isupper()
        if "<" in text or "@" in text:
            text = _CHAT_MARKUP.sub(_blank, text)
        chunks = self._spans_acronyms if acronyms else self._spans_plain
        out: list[tuple[str, int, int]] = []
        # As in terms(): chunk by chunk, each chunk's (term, start, end) computed once.
        for match in _CHUNK.finditer(text):
            found = chunks[match.group()]
            if found:
                at = match.start()
                out += [(term, at + start, at + end) for term, start, end in found]
        return out

    def spans_of(self, text: str, wanted: Set[str]) -> list[tuple[str, int, int]]:
        """The ``spans`` of ``text`` whose term is in ``wanted``, in order.

        Highlighting a passage needs only the few spans of question terms: the chunks holding
        one are found first and only their offsets are worked out. With the compiled chunk
        table a text's chunks are looked up in C (see ``_ChunkOrdinals``); without it, by
        mapping every chunk to its cached terms (``map``, ``compress``, also C loops).
        """
        acronyms = not (text if _isprintable(text) else clean_text(text)).isupper()
        if "<" in text or "@" in text:
            text = _CHAT_MARKUP.sub(_blank, text)
        # The compiled tables serve one thread at a time (a table refuses a second batch while
        # its callback runs): another thread meanwhile takes the Python path, which gives the
        # same spans.
        if self._compiled and self._tables_lock.acquire(blocking=False):
            try:
                if self._ordinals is None or self._ordinals.full():
                    self._ordinals = _ChunkOrdinals(self._chunk_spans)
                return self._ordinals.spans_of(text, not acronyms, wanted)
            finally:
                self._tables_lock.release()
        spans = self._spans_acronyms if acronyms else self._spans_plain
        terms = self._chunks_acronyms if acronyms else self._chunks_plain
        parts = text.split()
        # A chunk's terms are its spans' terms (the same tokens through the same lookup).
        disjoint = map(wanted.isdisjoint, map(terms.__getitem__, parts))
        hit = list(compress(range(len(parts)), map(not_, disjoint)))
        if not hit:
            return []
        return _spans_in_text(text, map(len, parts), hit, [spans[parts[i]] for i in hit], wanted)

    @property
    def compiled(self) -> bool:
        """Whether ``adjacent_pairs`` reads texts through the compiled chunk table."""
        return self._compiled

    def _chunk_ids(self, chunk: str, shouted: bool) -> list[int]:
        """The chunk table's callback: a chunk's terms (as ``terms`` finds them) as ids."""
        terms = (self._chunks_plain if shouted else self._chunks_acronyms)[chunk]
        ids = self._ids
        return [ids.setdefault(term, len(ids)) for term in terms]

    def adjacent_pairs(self, groups: Sequence[Sequence[str]], pairs: Set[Pair]) -> list[list[Pair]]:
        """For each group of texts, the members of ``pairs`` that occur as adjacent terms of its
        texts read one after another, by first occurrence: ``adjacent_in(pairs, terms of the
        group's texts joined)``.

        With the compiled chunk table all texts go to term ids in one call, in C (no str per
        word), and each pair's two ids are looked for with ``bytes.find``: proximity is most of
        what re-ranking costs at answer time. Without it (or while another thread uses the
        table), ``terms`` of each text: the same pairs.
        """
        if self._compiled and self._tables_lock.acquire(blocking=False):
            try:
                return self._adjacent_compiled(groups, pairs)
            finally:
                self._tables_lock.release()
        terms = self.terms
        return [adjacent_in(pairs, chain.from_iterable(map(terms, g))) for g in groups]

    def _adjacent_compiled(
        self, groups: Sequence[Sequence[str]], pairs: Set[Pair]
    ) -> list[list[Pair]]:
        out: list[list[Pair]] = [[] for _ in groups]
        if not pairs:
            return out
        if self._table is None or len(self._table) >= CACHE_ENTRIES:
            # Bounded like the other caches: a new table, and ids, once this one is full.
            self._table = _chunks.ChunkTable(int.from_bytes(os.urandom(8), "little"))
            self._ids = {}
        ready = []
        for group in groups:
            for text in group:  # as terms() reads it: cleaned, chat markup blanked
                if not _isprintable(text):
                    text = clean_text(text)
                if "<" in text or "@" in text:
                    text = _CHAT_MARKUP.sub(_blank, text)
                ready.append(text)
        shouted = bytes(map(str.isupper, ready))
        found, counts = self._table.batch(ready, shouted, self._chunk_ids)
        ids = self._ids
        # Where each group's terms end in ``found`` (int32 ids, one after another).
        text_ends = list(accumulate(np.frombuffer(counts, dtype=np.int64).tolist(), initial=0))
        ends = [text_ends[i] for i in accumulate(map(len, groups))]
        at: list[tuple[int, int, Pair]] = []
        for x, y in pairs:
            if x not in ids or y not in ids:  # a term no text has: the pair cannot occur
                continue
            # The pair's two ids as they lie in ``found``: bytes.find runs in C, and only the
            # few places the pair occurs are looked at in Python.
            pattern = _ID_PAIR.pack(ids[x], ids[y])
            pos = found.find(pattern)
            while pos >= 0:
                if pos % 4 == 0:  # on a term boundary (not across two ids' bytes)
                    first = pos // 4
                    owner = bisect_right(ends, first)
                    if first + 1 < ends[owner]:  # both terms in one group
                        at.append((first, owner, (x, y)))
                pos = found.find(pattern, pos + 1)
        firsts: list[dict[Pair, None]] = [{} for _ in groups]
        for _, owner, pair in sorted(at):
            firsts[owner].setdefault(pair)
        return [list(f) for f in firsts]
