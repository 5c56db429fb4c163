"""Answers, sources, reports and stats -> Discord messages and embeds, escaped and inside limits."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import discord

from askbot.search.index import ArticleInfo
from askbot.search.models import Answer, Citation, CitedPassage, Span
from askbot.search.store import ReindexReport
from askbot.storage.querylog import LogStats

# Discord's documented limits. Lengths are measured in UTF-16 code units (``dlen``), which is
# never less than the code-point count, so a text that fits here fits however Discord counts.
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000
MAX_EMBEDS = 10
MAX_FIELDS = 25
URL_LIMIT = 2000

ELLIPSIS = "…"
ZWSP = "\u200b"

NO_MENTIONS = discord.AllowedMentions.none()
"""Passed on every send, on top of the client default: askbot never pings anyone."""

STRONG_COLOUR = discord.Colour.green()
PARTIAL_COLOUR = discord.Colour.gold()
INFO_COLOUR = discord.Colour.blurple()

NOT_FOUND_HINT = "Try other words, or use /sources to see what the corpus covers."


def dlen(text: str) -> int:
    """Length as Discord may count it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


# -- escaping -----------------------------------------------------------------------------------

# C0/C1 controls (except tab and newline), lone surrogates (they cannot be encoded as UTF-8)
# and the bidi overrides that could make a quoted passage display as something it is not.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
# Characters that are markdown anywhere in a line. discord.utils.escape_markdown only escapes a
# marker when a closing one follows, which is not stable once text is cut or bolded piecewise.
_MARKDOWN = re.compile(r"([\\*_~|`\[\]<])")
# Markers that only count at the start of a line: headings, quotes, lists, "-#" subtext.
_LINE_START = re.compile(r"^(\s*)([#>\-+])", re.MULTILINE)
_LIST_NUMBER = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# Same URL shape discord.py's escape_markdown(ignore_links=True) leaves alone: escaping inside a
# URL breaks the link.
_URL = re.compile(r"(?:https?|steam)://[^\s<]+[^<.,:;\"'\]\s]")
# "@" before everyone/here or a (possibly short or forged) user/role id.
_MENTION_AT = re.compile(r"@(?=everyone|here|[!&]?\d)", re.IGNORECASE)
# "<" opening a channel mention, a slash-command mention or a custom emoji.
_MENTION_OPEN = re.compile(r"<(?=[#/:]|a:)")
_SPACES = re.compile(r"\s+")


def sanitize(text: str) -> str:
    """Drop control characters, lone surrogates and bidi overrides."""
    return _UNSAFE.sub("", text)


def neutralize_mentions(text: str) -> str:
    """Break @everyone, @here, <@id>, <@!id>, <@&id>, <#id> so they neither ping nor render.

    A stricter discord.utils.escape_mentions: that one only handles 17-20 digit ids.
    """
    return _MENTION_OPEN.sub("<" + ZWSP, _MENTION_AT.sub("@" + ZWSP, text))


def _escape_markdown(text: str) -> str:
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    return _LIST_NUMBER.sub(r"\1\\.", text)


def escape(text: str) -> str:
    """Text from the corpus or a user, made inert: no markdown, no mentions, no masked links.

    URLs are kept intact (escaping inside them breaks them) but cannot carry mentions either.
    """
    text = sanitize(text)
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        out.append(_escape_markdown(text[pos : match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_escape_markdown(text[pos:]))
    return neutralize_mentions("".join(out))


def plain(text: str, limit: int) -> str:
    """One line of untrusted text for places without markdown (footers, choices, file names)."""
    text = neutralize_mentions(_SPACES.sub(" ", sanitize(text)).strip())
    return _cut(text, limit, lambda s: s)


def _prefix_within(raw: str, room: int, show: Callable[[str], str]) -> str:
    """``show`` of the longest prefix of ``raw`` whose shown length is at most ``room``.

    ``show`` may lengthen text (escaping), so the cut is found by bisection on the raw text;
    it backs off to a word boundary when one is near.
    """
    if room <= 0:
        return ""
    # show() only adds characters, apart from the unsafe ones it drops, so no longer prefix can
    # fit: this keeps the bisection (it runs on the event loop) short for a very long passage.
    lo, hi = 0, min(len(raw), room + len(_UNSAFE.findall(raw)))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if dlen(show(raw[:mid])) <= room:
            lo = mid
        else:
            hi = mid - 1
    cut = lo
    space = raw.rfind(" ", 0, cut)
    if space > 0 and cut - space < 40:
        cut = space
    text = show(raw[:cut].rstrip())
    while dlen(text) > room and cut > 0:  # defensive: show() is not strictly monotonic
        cut -= 1
        text = show(raw[:cut])
    return text


def _cut(raw: str, limit: int, show: Callable[[str], str]) -> str:
    """``show(raw)``, or the longest shown prefix of ``raw`` that fits with an ellipsis."""
    if limit <= 0:
        return ""
    if len(raw) - len(_UNSAFE.findall(raw)) <= limit:  # else it cannot fit whole: skip escaping it
        whole = show(raw)
        if dlen(whole) <= limit:
            return whole
    room = limit - dlen(ELLIPSIS)
    if room <= 0:
        return ELLIPSIS[:limit]
    return _prefix_within(raw, room, show) + ELLIPSIS


def fit(text: str, limit: int) -> str:
    """``escape(text)``, cut with an ellipsis to at most ``limit`` characters."""
    return _cut(text, limit, escape)


def _merge(spans: Sequence[Span], length: int) -> list[tuple[int, int]]:
    """Sorted, clipped, non-empty spans; touching ones merged (``**a****b**`` renders badly)."""
    merged: list[tuple[int, int]] = []
    for span in sorted(spans, key=lambda s: s.start):
        start, end = max(0, span.start), min(length, span.end)
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _bold(text: str) -> str:
    return f"**{text}**" if text else ""


def fit_highlighted(text: str, spans: Sequence[Span], limit: int) -> str:
    """The escaped text with matched terms in bold, cut to ``limit`` characters.

    Each plain or bold segment is escaped on its own, once; only the segment where the cut
    falls is bisected.
    """
    if limit <= 0:
        return ""
    text = text.replace("\r", "")
    segments: list[tuple[int, int, bool]] = []
    pos = 0
    for start, end in _merge(spans, len(text)):
        if pos < start:
            segments.append((pos, start, False))
        segments.append((start, end, True))
        pos = end
    if pos < len(text):
        segments.append((pos, len(text), False))
    room = limit - dlen(ELLIPSIS)

    def piece(i: int) -> str:
        a, b, bold = segments[i]
        return _bold(escape(text[a:b])) if bold else escape(text[a:b])

    # Segments are escaped lazily: a 10,000-character passage with hundreds of matches costs only
    # what is shown, since this runs on the event loop.
    out: list[str] = []
    used = 0
    for i in range(len(segments)):
        shown = piece(i)
        size = dlen(shown)
        if used + size <= room:
            out.append(shown)
            used += size
            continue
        if used + size <= limit and _rest_fits(piece, i + 1, len(segments), limit - used - size):
            return "".join(out) + shown + "".join(piece(j) for j in range(i + 1, len(segments)))
        if room <= 0:
            return ELLIPSIS[:limit]
        a, b, bold = segments[i]
        if bold:
            out.append(_bold(_prefix_within(text[a:b], room - used - 4, escape)))
        else:
            out.append(_prefix_within(text[a:b], room - used, escape))
        return "".join(out).rstrip() + ELLIPSIS
    return "".join(out)


def _rest_fits(piece: Callable[[int], str], start: int, stop: int, room: int) -> bool:
    """Whether pieces ``start`` to ``stop`` fit in ``room``; stops escaping once they do not."""
    used = 0
    for j in range(start, stop):
        used += dlen(piece(j))
        if used > room:
            return False
    return True


def safe_url(url: str | None) -> str | None:
    """An http(s) URL Discord accepts in an embed or a masked link, or None."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_LIMIT or not re.fullmatch(r"https?://[^\s<>\"'`]+", url):
        return None
    # A ")" would end a masked link early.
    return url.replace("(", "%28").replace(")", "%29")


# -- answers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message: content and embeds, inside Discord's limits."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)


def embeds_length(embeds: Sequence[discord.Embed]) -> int:
    """What Discord counts against the 6000-character total of a message's embeds."""
    total = 0
    for embed in embeds:
        total += dlen(embed.title or "") + dlen(embed.description or "")
        total += dlen(embed.footer.text or "") + dlen(embed.author.name or "")
        total += sum(dlen(f.name or "") + dlen(f.value or "") for f in embed.fields)
    return total


def citation_line(citation: Citation, limit: int = 300) -> str:
    """One citation as markdown: the title (a link where there is a URL), ¶, date, source."""
    suffix = f" · ¶{citation.paragraph}"
    extra = " · ".join(x for x in (citation.date, citation.source) if x)
    tail = suffix + (" · " + escape(_SPACES.sub(" ", extra)) if extra else "")
    url = safe_url(citation.url)
    # Leave room for the masked-link brackets and URL around the title.
    wrap = dlen(url) + 4 if url else 0
    room = limit - dlen(tail) - wrap
    if room < 8:
        url, room = None, limit - dlen(tail)
    if room < 1:
        return fit(citation.title + suffix, limit)
    title = fit(_SPACES.sub(" ", citation.title) or citation.article_id, room)
    return (f"[{title}]({url})" if url else title) + tail


def _answer_header(answer: Answer, shown: int) -> str:
    if answer.confidence == "strong":
        header = "**From the corpus:**"
    else:
        header = "**Closest passages in the corpus** (they may not answer all of it):"
    if len(answer.passages) > shown:
        header += f" showing {shown} of {len(answer.passages)}."
    return header


def _passage_embed(passage: CitedPassage, budget: int, colour: discord.Colour) -> discord.Embed:
    """One cited passage: linked title with ¶, the highlighted text, date/source/id footer."""
    c = passage.citation
    prefix = f"[{passage.rank}] "
    suffix = f" · ¶{c.paragraph}"
    title_room = min(TITLE_LIMIT, max(budget // 5, 40)) - dlen(prefix) - dlen(suffix)
    title = prefix + fit(_SPACES.sub(" ", c.title) or c.article_id, title_room) + suffix
    footer = plain(
        " · ".join(x for x in (c.date, c.source, c.passage_id) if x), min(200, budget // 8)
    )
    embed = discord.Embed(title=title, url=safe_url(c.url), colour=colour)
    if footer:
        embed.set_footer(text=footer)
    if passage.also_in:
        value_room = min(FIELD_VALUE_LIMIT, max(budget // 5, 60))
        lines: list[str] = []
        used = 0
        for other in passage.also_in:  # only as many as can be shown: this is on the event loop
            if used > value_room:
                break
            lines.append(citation_line(other, min(300, value_room)))
            used += dlen(lines[-1]) + 1
        value = join_within(lines, value_room, total=len(passage.also_in))
        embed.add_field(name="Also in", value=value, inline=False)
    speaker = ""
    if passage.speaker and passage.speaker.casefold() not in passage.text.casefold():
        role = f", {passage.speaker_role}" if passage.speaker_role else ""
        speaker = "\n— " + fit(passage.speaker + role, 200)
    used = embeds_length([embed])
    room = min(DESCRIPTION_LIMIT, budget - used) - dlen(speaker)
    embed.description = fit_highlighted(passage.text, passage.highlights, room) + speaker or None
    return embed


def render_answer(answer: Answer) -> Rendered:
    """An answer as a message: a header line and one embed per cited passage (at most ten)."""
    if not answer.answered or not answer.passages:
        reason = answer.reason or "Nothing in the corpus answers this question."
        hint = f" {NOT_FOUND_HINT}"
        return Rendered(content="🔎 " + fit(reason, CONTENT_LIMIT - 3 - dlen(hint)) + hint)
    shown = answer.passages[:MAX_EMBEDS]
    colour = STRONG_COLOUR if answer.confidence == "strong" else PARTIAL_COLOUR
    budget = EMBED_TOTAL_LIMIT // len(shown)
    embeds = [_passage_embed(p, budget, colour) for p in shown]
    return Rendered(content=_answer_header(answer, len(shown)), embeds=embeds)


# -- sources ------------------------------------------------------------------------------------


def render_context(
    article: ArticleInfo, paragraphs: Sequence[tuple[int, str]], cited: int
) -> discord.Embed:
    """The paragraphs around a cited one (which is marked), for the "More context" button."""
    numbers = [n for n, _ in paragraphs]
    span = f"¶{numbers[0]}–{numbers[-1]}" if len(set(numbers)) > 1 else f"¶{cited}"
    title = fit(_SPACES.sub(" ", article.title) or article.id, TITLE_LIMIT - dlen(span) - 3)
    embed = discord.Embed(title=f"{title} · {span}", url=safe_url(article.url), colour=INFO_COLOUR)
    footer = " · ".join(x for x in (article.date, article.source, article.id) if x)
    embed.set_footer(text=plain(footer, 300))
    room = (DESCRIPTION_LIMIT - 8 * max(len(paragraphs), 1)) // max(len(paragraphs), 1)
    parts = []
    for number, text in paragraphs:
        label = f"▶ **¶{number}**" if number == cited else f"**¶{number}**"
        parts.append(f"{label} {fit(text, room - dlen(label) - 1)}")
    embed.description = "\n\n".join(parts) or "(this paragraph is empty)"
    return embed


def render_source(article: ArticleInfo, paragraph: int, count: int, text: str) -> discord.Embed:
    """One article's card: title, date, source, URL, paragraph count and one paragraph."""
    embed = discord.Embed(
        title=fit(_SPACES.sub(" ", article.title) or article.id, TITLE_LIMIT),
        url=safe_url(article.url),
        colour=INFO_COLOUR,
    )
    label = f"**¶{paragraph} of {count}**"
    # 3500 leaves room for the title, fields and footer inside the 6000 total.
    embed.description = f"{label}\n{fit(text, 3500 - dlen(label) - 1)}"
    embed.add_field(name="Date", value=fit(article.date or "", 100).strip() or "unknown")
    embed.add_field(name="Source", value=fit(article.source or "", 200).strip() or "unknown")
    embed.add_field(name="Paragraphs", value=str(count))
    url = safe_url(article.url)
    shown = url if url and dlen(url) <= FIELD_VALUE_LIMIT else "none"
    embed.add_field(name="URL", value=shown, inline=False)
    embed.set_footer(text=plain(f"id: {article.id}", 300))
    return embed


def render_sources_page(
    articles: Sequence[ArticleInfo], page: int, pages: int, total: int, first_number: int
) -> discord.Embed:
    """One page of the corpus listing."""
    lines: list[str] = []
    room = (DESCRIPTION_LIMIT - 100) // max(len(articles), 1)
    for n, article in enumerate(articles, start=first_number):
        extra = " · ".join(x for x in (article.date, article.source) if x)
        head = f"**{n}.** "
        tail = f"\n{fit(article.id, 100)}" + (f" · {fit(extra, 100)}" if extra else "")
        title = fit(_SPACES.sub(" ", article.title) or article.id, room - dlen(head + tail))
        lines.append(head + title + tail)
    embed = discord.Embed(
        title=f"Sources: {total} article{'s' if total != 1 else ''}",
        description="\n".join(lines) or "The corpus is empty.",
        colour=INFO_COLOUR,
    )
    embed.set_footer(text=f"Page {page} of {pages} · /source <article> shows one article")
    return embed


# -- admin --------------------------------------------------------------------------------------


def join_within(
    lines: Sequence[str], limit: int, empty: str = "none", total: int | None = None
) -> str:
    """Lines joined by newlines, dropping the tail for "… and N more" when they do not all fit.

    ``total`` counts items that were not even made into lines (because they could not fit).
    """
    total = len(lines) if total is None else total
    if not lines:
        return empty if total == 0 else f"… and {total} more"
    # Discord refuses blank field values.
    lines = [line if line.strip() else "(blank)" for line in lines]
    whole = "\n".join(lines)
    if total == len(lines) and dlen(whole) <= limit:
        return whole
    reserve = dlen(f"\n… and {total} more")
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = dlen(line) + (1 if kept else 0)
        if used + cost > limit - reserve:
            break
        kept.append(line)
        used += cost
    more = f"… and {total - len(kept)} more"
    return "\n".join([*kept, more])


def _listing(items: Sequence[str]) -> str:
    """Items one per line; only those that can be shown are escaped (a reindex may add 10⁶)."""
    lines: list[str] = []
    used = 0
    for item in items:
        if used > FIELD_VALUE_LIMIT:
            break
        lines.append(fit(item, 200))
        used += dlen(lines[-1]) + 1
    return join_within(lines, FIELD_VALUE_LIMIT, total=len(items))


def render_reindex(report: ReindexReport) -> discord.Embed:
    """What a reindex changed, in one embed."""
    changed = bool(report.added or report.changed or report.removed)
    embed = discord.Embed(
        title="Reindexed" if changed else "Reindexed: no article changed",
        description=(
            f"{report.articles} articles, {report.passages} passages, "
            f"built in {report.seconds:.2f} s. New questions use the new index."
        ),
        colour=STRONG_COLOUR,
    )
    for name, items in (
        ("Added", report.added),
        ("Changed", report.changed),
        ("Removed", report.removed),
    ):
        embed.add_field(name=f"{name} ({len(items)})", value=_listing(items), inline=False)
    skipped = [f"{s.path}: {s.reason}" for s in report.skipped]
    embed.add_field(name=f"Skipped files ({len(skipped)})", value=_listing(skipped), inline=False)
    embed.set_footer(text=plain(f"index {report.key}", 100))
    return embed


def render_reindex_failed(reason: str) -> str:
    """A failed reindex: what went wrong, and that the previous index keeps serving."""
    text = (
        "Reindex failed: {}\nThe previous index keeps answering questions; fix the corpus "
        "folder and run /reindex again."
    )
    room = CONTENT_LIMIT - dlen(text.format(""))
    return text.format(fit(reason, room))


def render_stats(stats: LogStats, top: int = 5) -> discord.Embed:
    """Query counts, answered rate, surfaces, top (unanswered) questions and feedback."""
    embed = discord.Embed(
        title="askbot statistics",
        description=(
            f"**{stats.total}** queries, **{stats.answered}** answered "
            f"({stats.answered_rate:.0%}); median latency {stats.median_latency_ms:.0f} ms\n"
            f"Feedback: 👍 {stats.feedback_up} · 👎 {stats.feedback_down}"
        ),
        colour=INFO_COLOUR,
    )
    surfaces = [f"{fit(k, 40)}: {v}" for k, v in sorted(stats.by_surface.items())]
    embed.add_field(name="By surface", value=join_within(surfaces, FIELD_VALUE_LIMIT), inline=False)
    for name, rows in (
        ("Top questions", stats.top_questions[:top]),
        ("Top unanswered (what the corpus is missing)", stats.top_unanswered[:top]),
    ):
        room = FIELD_VALUE_LIMIT // max(len(rows), 1) - 12
        lines = [f"{n}× {fit(_SPACES.sub(' ', q), room)}" for q, n in rows]
        embed.add_field(name=name, value=join_within(lines, FIELD_VALUE_LIMIT), inline=False)
    return embed
