"""The one Analyzer used for passages and questions: normalise, tokenise, stop, stem."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable

import Stemmer

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


class Analyzer:
    """Turns text into index terms; the same instance analyses passages and questions."""

    def __init__(self, language: str = "english", stopwords: Iterable[str] = STOPWORDS) -> None:
        self.language = language
        self.stopwords = frozenset(stopwords)
        self._stemmer = Stemmer.Stemmer(language)
        # Raw token (case kept) -> term or None; bounded by the vocabulary, so it stays small
        # while making a million-passage build mostly dictionary lookups.
        self._cache_acronyms: dict[str, str | None] = {}
        self._cache_plain: dict[str, str | None] = {}

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
            term = cache[raw] = self._term(raw, acronyms)
            return term

    def terms(self, text: str) -> list[str]:
        """The index terms of ``text``, in order, duplicates kept (BM25 counts them)."""
        text = _CHAT_MARKUP.sub(_blank, clean_text(text))
        # In all-capitals text (a shouted question, a headline) capitals mean nothing.
        acronyms = not text.isupper()
        lookup = self._lookup
        out = []
        for raw in _TOKEN.findall(text):
            term = lookup(raw, acronyms)
            if term is not None:
                out.append(term)
        return out

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Each term of ``text`` with the character range it came from, for highlighting."""
        acronyms = not clean_text(text).isupper()
        out = []
        for match in _TOKEN.finditer(_CHAT_MARKUP.sub(_blank, text)):
            term = self._lookup(match.group(), acronyms)
            if term is not None:
                out.append((term, match.start(), match.end()))
        return out
