"""Who said what, question side: recognise "what did X say (about Y)?" and find X's quotes."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from askbot.search.analysis import SPEECH_TERM, Analyzer, clean_text
from askbot.search.corpus import ROLE_WORDS
from askbot.search.index import Index
from askbot.search.pruning import distinct

MAX_NAME_WORDS = 8

# Verbs of speech and opinion a question may ask about ("what did X say / think / tell ...").
# Not "add" or "note": "What did Luther add to his catechisms?" asks what he did.
_SAY = (
    r"(?:say|said|says|saying|think|thinks|thought|comment|commented|claim|claimed|claims|"
    r"state|stated|announce|announced|remark|remarked|write|wrote|tweet|tweeted|reply|replied|"
    r"respond|responded|react|reacted|mean|meant|argue|argued|warn|warned|feel|feels|felt|"
    r"believe|believes|believed|predict|predicted|promise|promised)"
)
_TELL = r"(?:tell|told|tells|telling)"
_TOPIC_PREP = r"(?:about|on|regarding|concerning|over|of|re|in\s+response\s+to|to)"
_LEAD = r"(?:(?:and|so|but|ok|okay|then|also)\s+)?"
_PLEASE = r"(?:(?:please|can\s+you|could\s+you)\s+)?"
_SHOW = r"(?:(?:show|give|find|list|get)\s+(?:me\s+|us\s+)?)?"
_NOUNS = (
    r"(?:comments?|remarks?|statements?|views?|words|quotes?|quotations?|position|response|"
    r"reaction|opinions?|thoughts|claims?|testimony|answers?|take)"
)

_FORMS = (
    # what did / does / has X say (about Y); what is X saying; what has X been saying
    re.compile(
        rf"^{_LEAD}what\s+(?:did|does|do|has|have|had|is|was|are|were|would|will)\s+"
        rf"(?P<name>.+?)\s+(?:(?:been|had|have|has|to)\s+){{0,2}}{_SAY}\b(?P<rest>.*)$",
        re.IGNORECASE,
    ),
    # what did X tell reporters (about Y)
    re.compile(
        rf"^{_LEAD}what\s+(?:did|does|do|has|have|had|is|was)\s+(?P<name>.+?)\s+(?:been\s+)?"
        rf"{_TELL}\b(?:.*?\s(?:about|regarding|concerning|on)\s+(?P<topic>.+))?$",
        re.IGNORECASE,
    ),
    # how did X respond / react (to Y)
    re.compile(
        rf"^{_LEAD}how\s+(?:did|does|has|have|do)\s+(?P<name>.+?)\s+"
        rf"(?:respond|responded|react|reacted|reply|replied)\b(?P<rest>.*)$",
        re.IGNORECASE,
    ),
    # did / has X say anything about Y
    re.compile(
        rf"^{_LEAD}(?:did|has|have|does|do)\s+(?P<name>.+?)\s+"
        rf"(?:say|said|comment|commented|speak|spoke|spoken|talk|talked|tweet|tweeted)\s+"
        rf"(?:anything\s+|something\s+|publicly\s+)?(?:about|on|regarding)\s+(?P<topic>.+)$",
        re.IGNORECASE,
    ),
    # X's comments on Y; what were X's remarks about Y; show me X's quotes
    re.compile(
        rf"^{_LEAD}{_PLEASE}(?:what\s+(?:are|were|was|is)\s+)?{_SHOW}(?:the\s+)?"
        rf"(?P<name>[^'’]+?)['’]s?\s+{_NOUNS}\b(?P<rest>.*)$",
        re.IGNORECASE,
    ),
    # quotes from X (on Y); comments by X
    re.compile(
        rf"^{_LEAD}{_PLEASE}{_SHOW}(?:any\s+|all\s+|the\s+|some\s+)?(?:quotes?|quotations?|"
        rf"comments?|remarks?|statements?|words)\s+(?:from|by)\s+(?P<name>.+?)"
        rf"(?:\s+(?:about|on|regarding|concerning|over)\s+(?P<topic>.+))?$",
        re.IGNORECASE,
    ),
    # what X said (about Y)
    re.compile(
        rf"^{_LEAD}what\s+(?P<name>.+?)\s+(?:has\s+|had\s+)?(?:said|says|told|thinks|thought)\b"
        rf"(?P<rest>.*)$",
        re.IGNORECASE,
    ),
)
_REST_TOPIC = re.compile(
    rf"^\s*(?:{_TOPIC_PREP}|in|at|during|after|before|with|for)\s+(?P<topic>.+)$", re.IGNORECASE
)
# Chat mentions addressing the bot, and punctuation around the question, are not part of it.
_CHAT_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>|@(?:everyone|here)\b")
_EDGES = re.compile(r"^[\W_]+|[\s?!.\"']+$")
_NAME_NOISE = re.compile(r"^(?:the|a|an|mr|mrs|ms|dr)\.?\s+", re.IGNORECASE)
_NOT_NAMES = frozenset([
    "i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "us", "them", "people",
    "someone", "anyone", "everyone", "nobody", "somebody", "this", "that", "there"
])  # fmt: skip


@dataclass(frozen=True, slots=True)
class SpeakerQuestion:
    """A question asking what someone said: the name as written and the topic ('' for none)."""

    name: str
    topic: str = ""


def _normal(question: str) -> str:
    text = _CHAT_MENTION.sub(" ", clean_text(question)).replace("’", "'").replace("‘", "'")
    text = text.replace("“", '"').replace("”", '"')
    return _EDGES.sub("", " ".join(text.split()))


def parse_speaker_question(question: str) -> SpeakerQuestion | None:
    """The speaker and topic of a "what did X say (about Y)?" question, or None.

    Recognised: "what did/does/has X say|think|tell ... (about Y)", "what is X saying",
    "how did X respond (to Y)", "did X say anything about Y", "X's comments/remarks on Y",
    "quotes/comments from X (on Y)", "what X said (about Y)". Anything after the verb that is
    not introduced by about/on/regarding/to ... ("in Seoul") still counts as the topic.
    """
    text = _normal(question)
    for form in _FORMS:
        match = form.match(text)
        if not match:
            continue
        name = _NAME_NOISE.sub("", match.group("name").strip(" ,")).strip(" ,")
        words = name.split()
        if not words or len(words) > MAX_NAME_WORDS or name.lower() in _NOT_NAMES:
            continue
        groups = match.groupdict()
        topic = groups.get("topic") or ""
        rest = (groups.get("rest") or "").strip(" ,")
        if not topic and rest:
            found = _REST_TOPIC.match(rest)
            topic = found.group("topic") if found else rest
        return SpeakerQuestion(name=name, topic=topic.strip(" ,"))
    return None


# Speaker names recur question after question: their terms are remembered (bounded).
@functools.lru_cache(maxsize=8192)
def name_terms(analyzer: Analyzer, name: str, titles: bool = False) -> tuple[str, ...]:
    """The analyzer terms of a name; without its titles unless ``titles`` ("Secretary Pompeo"
    -> ("pompeo",)). A name made only of titles ("the President") keeps them.
    """
    terms = tuple(t for t in analyzer.terms(name) if t != SPEECH_TERM)
    if titles:
        return terms
    roles = _role_terms(analyzer)
    kept = tuple(t for t in terms if t not in roles)
    return kept or terms


@functools.lru_cache(maxsize=4)
def _role_terms(analyzer: Analyzer) -> frozenset[str]:
    return frozenset(t for word in ROLE_WORDS for t in analyzer.terms(word))


def names_match(
    asked: Sequence[str], speaker: Sequence[str], titles: frozenset[str] = frozenset()
) -> bool:
    """Whether the name asked about (terms) designates the speaker (terms).

    Either the asked terms are all part of the speaker's name ("Biegun" -> "Stephen Biegun"),
    or the speaker's name appears whole, in order, inside what was asked ("South Korean President
    Moon Jae-in" -> "Moon Jae-in"), or the surname follows one of ``titles`` ("the Afghan
    ambassador Mohib" -> "Hamdullah Mohib"; "Tom Pompeo" is not "Mike Pompeo").
    """
    if not asked or not speaker:
        return False
    if set(speaker).issuperset(asked):
        return True
    n = len(speaker)
    # The speaker's name whole inside what was asked: its first term must be there (most of
    # the candidates of a long postings list fail here, before any slice is made).
    if n <= len(asked) and speaker[0] in asked:
        whole = tuple(speaker)
        if any(tuple(asked[i : i + n]) == whole for i in range(len(asked) - n + 1)):
            return True
    return len(asked) > 1 and asked[-1] == speaker[-1] and asked[-2] in titles


def designates(analyzer: Analyzer, asked: str, speaker: str, titles: bool = True) -> bool:
    """Whether the name asked about designates the speaker, titles kept (or dropped) on both."""
    return names_match(
        name_terms(analyzer, asked, titles),
        name_terms(analyzer, speaker, titles),
        _role_terms(analyzer),
    )


def _postings(index: Index, terms: Sequence[str]) -> npt.NDArray[np.int64]:
    """Every passage containing any of ``terms`` (text or carried context), ascending."""
    parts = []
    for term in dict.fromkeys(terms):
        t = index.vocab.get(term)
        if t is not None:
            parts.append(np.asarray(index.docs[int(index.indptr[t]) : int(index.indptr[t + 1])]))
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return distinct(np.concatenate(parts)).astype(np.int64)


def matching_speakers(index: Index, analyzer: Analyzer, name: str) -> list[int]:
    """The ids (rows of ``index.speakers``) of the speakers ``name`` designates.

    Names are compared as written first ("State Department" is the "US State Department", not
    the "Irving Police Department"); only when that finds no one are titles dropped from both
    ("Secretary Pompeo" -> "Mike Pompeo"). Only speakers of passages containing one of the
    name's terms are considered, so the cost follows those terms' postings, not the speaker count.
    """
    asked = name_terms(analyzer, name, titles=True)
    if not asked:
        return []
    docs = _postings(index, asked)
    ids = distinct(np.asarray(index.p_speaker)[docs]) if docs.size else docs
    candidates = [sid for sid in ids.tolist() if sid >= 0]
    roles = _role_terms(analyzer)
    for titles in (True, False):
        # designates(analyzer, name, speaker, titles), with the asked name's terms found once.
        wanted = name_terms(analyzer, name, titles)
        found = [
            sid
            for sid in candidates
            if names_match(wanted, name_terms(analyzer, index.speakers[sid], titles), roles)
        ]
        if found:
            return found
    return []


def quoted_passages(
    index: Index, analyzer: Analyzer, speaker_ids: Sequence[int]
) -> npt.NDArray[np.int64]:
    """The passages whose speaker is one of ``speaker_ids``, ascending.

    Every such passage holds a term of its speaker's name, in its text or, for "..., he noted"
    paragraphs, in the context it carries, so the name's postings find them all.
    """
    terms = [t for sid in speaker_ids for t in analyzer.terms(index.speakers[sid])]
    docs = _postings(index, terms)
    if not docs.size:
        return docs
    keep = np.isin(np.asarray(index.p_speaker)[docs], np.asarray(speaker_ids, dtype=np.int32))
    return docs[keep]
