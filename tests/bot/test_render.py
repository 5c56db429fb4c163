"""render.py: answers and listings inside Discord's limits, with untrusted text made inert."""

from __future__ import annotations

import re

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askbot.bot import render
from askbot.bot.render import dlen, escape, fit, fit_highlighted, render_answer
from askbot.search.index import ArticleInfo
from askbot.search.models import Answer, Citation, CitedPassage, Skipped, Span
from askbot.search.store import ReindexReport
from askbot.storage.querylog import LogStats

FORGED = re.compile(r"@(everyone|here)|<@[!&]?\d|<#\d", re.IGNORECASE)

HOSTILE = [
    "@everyone", "@here", "<@123>", "<@!123456789012345678>", "<@&5>", "<#42>", "**bold**",
    "```py\nprint(1)\n```", "[click](https://evil.example)", "> quote", "# Heading", "-# small",
    "1. list", "||spoiler||", "~~strike~~", "__under__", "\\", "\u202eevil", "\x00\x07",
    "https://example.com/a_b_(c)", "'; DROP TABLE queries; --", "\u200b", "😀" * 5, "Ünïcødé ĸ",
]  # fmt: skip
untrusted = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(HOSTILE), max_size=6).map(" ".join),
    st.text(alphabet=st.sampled_from("@<>&!#*_`~|[]()\\ -\n123everyonehere"), max_size=60),
)
# Long texts by repetition: Hypothesis cannot draw thousands of random characters cheaply.
long_text = st.one_of(
    untrusted,
    st.tuples(untrusted.filter(bool), st.integers(20, 200)).map(lambda t: (t[0] + " ") * t[1]),
)


def texts_of(embed: discord.Embed) -> list[str]:
    """Every user-visible string of an embed."""
    out = [embed.title or "", embed.description or "", embed.footer.text or ""]
    out += [embed.author.name or ""]
    for f in embed.fields:
        out += [f.name or "", f.value or ""]
    return out


def assert_within_limits(rendered: render.Rendered) -> None:
    assert dlen(rendered.content) <= 2000
    assert len(rendered.embeds) <= 10
    assert render.embeds_length(rendered.embeds) <= 6000
    assert sum(len(e) for e in rendered.embeds) <= 6000
    for embed in rendered.embeds:
        assert dlen(embed.title or "") <= 256
        assert dlen(embed.description or "") <= 4096
        assert dlen(embed.footer.text or "") <= 2048
        assert len(embed.fields) <= 25
        for f in embed.fields:
            assert 0 < dlen(f.name or "") <= 256 and 0 < dlen(f.value or "") <= 1024
        assert embed.url is None or re.fullmatch(r"https?://\S+", embed.url)
        embed.to_dict()


@st.composite
def passages(draw: st.DrawFn, rank: int) -> CitedPassage:
    text = draw(long_text)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    spans = tuple(Span(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False))
    return CitedPassage(
        rank=rank,
        score=1.0,
        text=text,
        citation=draw(citations),
        highlights=spans,
        speaker=draw(st.one_of(st.just(""), untrusted)),
        also_in=tuple(draw(st.lists(citations, max_size=12))),
    )


citations = st.builds(
    Citation,
    passage_id=untrusted,
    article_id=untrusted,
    title=st.one_of(untrusted, st.text(min_size=300, max_size=600)),
    paragraph=st.integers(0, 10**6),
    date=st.one_of(st.none(), untrusted),
    url=st.one_of(st.none(), untrusted, st.just("https://example.com/x_(y)"), st.just("x" * 3000)),
    source=st.one_of(st.none(), untrusted),
)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    count = draw(st.integers(0, 12))
    cited = tuple(draw(passages(rank)) for rank in range(1, count + 1))
    return Answer(
        question=draw(long_text),
        answered=draw(st.booleans()) and bool(cited),
        passages=cited,
        confidence=draw(st.sampled_from(["strong", "partial", "none"])),
        reason=draw(untrusted),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(answers())
def test_any_answer_renders_inside_discord_limits(answer: Answer) -> None:
    """Whatever the answer holds, content, embeds and totals stay inside Discord's limits."""
    assert_within_limits(render_answer(answer))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(answers())
def test_rendered_answer_never_forges_a_mention(answer: Answer) -> None:
    """No @everyone, @here, <@id>, <@&id> or <#id> survives in anything rendered."""
    rendered = render_answer(answer)
    for text in [rendered.content, *(t for e in rendered.embeds for t in texts_of(e))]:
        assert FORGED.search(text) is None, text


@given(st.text(max_size=500).filter(lambda t: "\\" not in t and "://" not in t))
def test_escaping_loses_no_visible_text(text: str) -> None:
    """Unescaping the escaped text gives back the (sanitized) original."""
    shown = re.sub(r"\\(.)", r"\1", escape(text), flags=re.DOTALL).replace(render.ZWSP, "")
    assert shown == render.sanitize(text)


@given(untrusted, st.integers(0, 400))
def test_fit_respects_limit(text: str, limit: int) -> None:
    """fit() never returns more than the limit, and cuts end with an ellipsis."""
    out = fit(text, limit)
    assert dlen(out) <= limit
    if out != escape(text) and limit > 0:
        assert out.endswith("…")


def test_everyone_and_here_are_broken() -> None:
    """@everyone and @here are split by a zero-width space."""
    assert escape("hi @everyone and @here") == "hi @\u200beveryone and @\u200bhere"


def test_user_role_and_channel_mentions_cannot_render() -> None:
    """<@123>, <@!1>, <@&5> and <#42> no longer read as mentions."""
    out = escape("<@123> <@!1> <@&5> <#42>")
    assert FORGED.search(out) is None
    assert "123" in out and "5" in out


def test_markdown_is_escaped() -> None:
    """Bold, code fences, spoilers and quotes are shown literally."""
    assert escape("**x**") == r"\*\*x\*\*"
    assert escape("```code```") == r"\`\`\`code\`\`\`"
    assert escape("||s||") == r"\|\|s\|\|"
    assert escape("> q") == r"\> q"


def test_masked_link_is_broken() -> None:
    """[text](url) cannot become a masked link."""
    out = escape("[click](https://evil.example)")
    assert "[click](" not in out and out.startswith(r"\[click\]")


def test_plain_urls_are_left_intact() -> None:
    """A URL in a passage keeps its underscores so the link still works."""
    assert "https://example.com/a_b" in escape("see https://example.com/a_b now")


def test_control_and_bidi_characters_are_dropped() -> None:
    """NUL, BEL and right-to-left overrides are removed."""
    assert escape("a\x00b\x07c\u202ed") == "abcd"


def test_highlighted_terms_are_bold_and_text_escaped() -> None:
    """Matched spans are wrapped in ** while the rest is escaped."""
    text = "Biegun *said* hi"
    assert fit_highlighted(text, (Span(0, 6),), 100) == r"**Biegun** \*said\* hi"


def test_long_passage_is_cut_with_an_ellipsis() -> None:
    """A passage longer than the room is cut at a word and ends with …."""
    out = fit_highlighted("word " * 2000, (Span(0, 4),), 300)
    assert dlen(out) <= 300 and out.endswith("…") and out.startswith("**word**")


def citation(**kw: object) -> Citation:
    base: dict[str, object] = dict(
        passage_id="pompeo#8", article_id="pompeo", title="Pompeo hopeful", paragraph=8,
        date="2020-07-10", url="https://example.com/pompeo", source="Xinhua",
    )  # fmt: skip
    base.update(kw)
    return Citation(**base)  # type: ignore[arg-type]


def answer_of(*cites: Citation, confidence: str = "strong") -> Answer:
    cited = tuple(
        CitedPassage(rank=i, score=1.0, text=f"text {i}", citation=c)
        for i, c in enumerate(cites, start=1)
    )
    return Answer("q?", True, cited, confidence=confidence)


def test_citation_shows_title_paragraph_date_source_and_link() -> None:
    """Each passage embed carries the title with ¶, a link, and date/source in the footer."""
    (embed,) = render_answer(answer_of(citation())).embeds
    assert embed.title == "[1] Pompeo hopeful · ¶8"
    assert embed.url == "https://example.com/pompeo"
    assert embed.footer.text == "2020-07-10 · Xinhua · pompeo#8"


def test_citation_without_url_has_no_link() -> None:
    """No URL (or an unsafe one) means no link rather than a rejected embed."""
    for url in (None, "javascript:alert(1)", "not a url"):
        (embed,) = render_answer(answer_of(citation(url=url))).embeds
        assert embed.url is None


def test_not_in_corpus_is_one_short_line() -> None:
    """An unanswered question renders as brief content with no embeds."""
    rendered = render_answer(
        Answer("pizza?", False, (), reason="Nothing in the corpus answers this question.")
    )
    assert rendered.embeds == []
    assert rendered.content.startswith("🔎 Nothing in the corpus answers this question.")


def test_partial_answer_says_so() -> None:
    """A partial match is introduced as the closest passages, not as the answer."""
    assert "Closest passages" in render_answer(answer_of(citation(), confidence="partial")).content


def test_more_than_ten_passages_are_capped_and_counted() -> None:
    """Twenty citations render as ten embeds and the header says how many were shown."""
    rendered = render_answer(answer_of(*(citation(paragraph=i) for i in range(20))))
    assert len(rendered.embeds) == 10 and "showing 10 of 20" in rendered.content


def test_speaker_is_named_when_the_text_does_not_name_them() -> None:
    """A quote that only says "he noted" gets its inferred speaker appended."""
    passage = CitedPassage(1, 1.0, "“Possible,” he noted.", citation(), speaker="Stephen Biegun")
    (embed,) = render_answer(Answer("q", True, (passage,), confidence="strong")).embeds
    assert (embed.description or "").endswith("— Stephen Biegun")


def info(**kw: object) -> ArticleInfo:
    base: dict[str, object] = dict(
        id="pompeo", title="Pompeo hopeful", date="2020-07-10", url="https://example.com/p",
        source="Xinhua", author=None, path="p.txt", content_hash="h", paragraphs=13,
        first_passage=0, passage_count=13,
    )  # fmt: skip
    base.update(kw)
    return ArticleInfo(**base)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(untrusted, long_text, st.integers(1, 10**6), untrusted, untrusted)
def test_source_card_fits(title: str, text: str, paragraph: int, date: str, source: str) -> None:
    """/source's embed fits whatever the article holds."""
    article = info(title=title, url=title, date=date, source=source)
    embed = render.render_source(article, paragraph, 10**6, text)
    assert_within_limits(render.Rendered(embeds=[embed]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**6), long_text), min_size=1, max_size=3), untrusted)
def test_context_embed_fits(paragraphs: list[tuple[int, str]], title: str) -> None:
    """The "More context" embed fits whatever the paragraphs hold."""
    embed = render.render_context(info(title=title), paragraphs, paragraphs[0][0])
    assert_within_limits(render.Rendered(embeds=[embed]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(untrusted, untrusted), max_size=10))
def test_sources_page_fits(rows: list[tuple[str, str]]) -> None:
    """A /sources page fits whatever the titles and ids are."""
    articles = [info(id=i or "x", title=t) for t, i in rows]
    embed = render.render_sources_page(articles, 1, 1, len(articles), 1)
    assert_within_limits(render.Rendered(embeds=[embed]))


@settings(max_examples=40, deadline=None)
@given(st.lists(untrusted, max_size=300), st.lists(st.tuples(untrusted, untrusted), max_size=300))
def test_reindex_report_fits(ids: list[str], skipped: list[tuple[str, str]]) -> None:
    """A reindex report with many changes and skipped files is truncated to fit."""
    report = ReindexReport(
        articles=len(ids), passages=10, added=tuple(ids), changed=tuple(ids), removed=tuple(ids),
        skipped=tuple(Skipped(p, r) for p, r in skipped), seconds=1.5, key="k",
    )  # fmt: skip
    assert_within_limits(render.Rendered(embeds=[render.render_reindex(report)]))


def test_reindex_report_lists_changes_and_skipped_reasons() -> None:
    """Added, changed and removed ids and each skipped file's reason are shown."""
    report = ReindexReport(
        articles=3, passages=9, added=("new",), changed=(), removed=("old",),
        skipped=(Skipped("bad.txt", "not UTF-8"),), seconds=0.25, key="k",
    )  # fmt: skip
    values = {f.name: f.value for f in render.render_reindex(report).fields}
    assert values["Added (1)"] == "new" and values["Removed (1)"] == "old"
    assert values["Skipped files (1)"] == "bad.txt: not UTF-8"


def test_failed_reindex_says_the_old_index_keeps_serving() -> None:
    """A reindex failure names the problem and reassures that answers continue."""
    text = render.render_reindex_failed("no readable articles in corpus/")
    assert "no readable articles" in text and "previous index keeps answering" in text


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(long_text, st.integers(1, 10**9)), max_size=10),
    st.dictionaries(untrusted, st.integers(0, 10**9), max_size=20),
)
def test_stats_embed_fits(rows: list[tuple[str, int]], surfaces: dict[str, int]) -> None:
    """/stats fits whatever questions were asked."""
    stats = LogStats(
        total=10**9, answered=5, by_surface=surfaces, top_questions=rows, top_unanswered=rows,
        feedback_up=1, feedback_down=2, median_latency_ms=3.0,
    )  # fmt: skip
    embed = render.render_stats(stats)
    assert_within_limits(render.Rendered(embeds=[embed]))
    assert all(FORGED.search(t) is None for t in texts_of(embed))
