"""Read a corpus folder (text, Markdown and JSONL files) into Articles, and Articles into Passages."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from askbot.search.analysis import clean_text
from askbot.search.models import Article, Passage, Skipped

TEXT_SUFFIXES = frozenset({".txt", ".md"})
BULK_SUFFIXES = frozenset({".jsonl"})
FRONT_MATTER_KEYS = frozenset({"title", "date", "url", "source", "author"})
# Files that describe a corpus rather than belong to it (licence and attribution notes).
META_NAMES = frozenset({"readme", "license", "licence", "attribution", "notice", "copying"})
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
WINDOW_WORDS = 120

_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_SPACES = re.compile(r"\s+")
# A sentence ends at . ! ? (optionally followed by closing quotes) and whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+")


class CorpusError(Exception):
    """The corpus as a whole cannot be read (missing folder, not a folder)."""


@dataclass(frozen=True, slots=True)
class Corpus:
    """The articles of a corpus folder and the files that were skipped, with reasons."""

    root: str
    articles: tuple[Article, ...]
    skipped: tuple[Skipped, ...]


def _iter_files(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every candidate file under root, sorted; symlinks leaving the root are reported."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            suffix = path.suffix.lower()
            if suffix not in TEXT_SUFFIXES and suffix not in BULK_SUFFIXES:
                continue
            if path.stem.lower() in META_NAMES:
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    yield path, "symlink to a file outside the corpus folder (not followed)"
                    continue
            yield path, None


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8 (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8"
        ) from None


def split_paragraphs(body: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line with whitespace collapsed."""
    out = []
    for block in _BLANK_LINES.split(body.replace("\r\n", "\n").replace("\r", "\n")):
        text = _SPACES.sub(" ", clean_text(block)).strip()
        if text:
            out.append(text)
    return out


def _parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split a leading ``---`` block of ``key: value`` lines from the body."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    meta: dict[str, str] = {}
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return meta, "\n".join(lines[i + 1 :])
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or " " in key.strip():
            raise ValueError(f"broken front matter at line {i + 1}: expected 'key: value'")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"')
        meta[key.strip().lower()] = value
    raise ValueError("broken front matter: the opening '---' has no closing '---'")


def _content_hash(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def parse_text_article(article_id: str, text: str, path: str = "") -> Article:
    """An Article from the text of a .txt/.md file; raises ValueError with a reason."""
    meta, body = _parse_front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    title = meta.get("title", "").strip()
    if not title:
        first, _, body = body.lstrip("\n").partition("\n")
        title = first.strip().lstrip("#").strip()
    title = _SPACES.sub(" ", clean_text(title)).strip()
    if not title:
        raise ValueError("empty file")
    paragraphs = split_paragraphs(body)
    if not paragraphs:
        raise ValueError("no paragraphs after the title")
    return _article(article_id, title, paragraphs, meta, path)


def _article(
    article_id: str, title: str, paragraphs: list[str], meta: dict[str, str], path: str
) -> Article:
    def get(key: str) -> str | None:
        value = str(meta.get(key) or "").strip()
        return value or None

    return Article(
        id=article_id,
        title=title,
        paragraphs=tuple(paragraphs),
        date=get("date"),
        url=get("url"),
        source=get("source"),
        author=get("author"),
        path=path,
        content_hash=_content_hash(
            title, *paragraphs, *(f"{k}={v}" for k, v in sorted(meta.items()))
        ),
    )


def parse_jsonl_line(line: str, path: str = "") -> Article:
    """An Article from one JSONL line; raises ValueError with a reason."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("id", "title", "text") if not str(record.get(k) or "").strip()]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    text = str(record["text"]).replace("\r\n", "\n")
    # CMS exports often separate paragraphs by single newlines rather than blank lines.
    paragraphs = split_paragraphs(text if _BLANK_LINES.search(text) else text.replace("\n", "\n\n"))
    if not paragraphs:
        raise ValueError("empty text")
    title = _SPACES.sub(" ", clean_text(str(record["title"]))).strip()
    meta = {k: str(record[k]) for k in ("date", "url", "source", "author") if record.get(k)}
    return _article(str(record["id"]).strip(), title, paragraphs, meta, path)


def load_corpus(
    root: str | os.PathLike[str], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Corpus:
    """Read every article under ``root``; bad files are skipped with a reason, never fatal."""
    base = Path(root)
    if not base.exists():
        raise CorpusError(f"corpus folder {base} does not exist")
    if not base.is_dir():
        raise CorpusError(f"corpus path {base} is not a folder")
    articles: list[Article] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}

    def add(article: Article, where: str) -> None:
        if article.id in seen:
            skipped.append(
                Skipped(where, f"duplicate article id {article.id!r} (first in {seen[article.id]})")
            )
            return
        seen[article.id] = where
        articles.append(article)

    for path, problem in _iter_files(base):
        rel = path.relative_to(base).as_posix()
        if problem:
            skipped.append(Skipped(rel, problem))
            continue
        try:
            size = path.stat().st_size
            if size > max_file_bytes:
                raise ValueError(f"file is {size:,} bytes, over the {max_file_bytes:,}-byte limit")
            if size == 0:
                raise ValueError("empty file")
            text = _decode(path.read_bytes())
        except PermissionError:
            skipped.append(Skipped(rel, "permission denied (cannot read the file)"))
            continue
        except (OSError, ValueError) as exc:
            skipped.append(
                Skipped(rel, str(exc) if isinstance(exc, ValueError) else exc.strerror or str(exc))
            )
            continue
        if path.suffix.lower() in BULK_SUFFIXES:
            for lineno, line in enumerate(text.split("\n"), start=1):
                if not line.strip():
                    continue
                where = f"{rel}:{lineno}"
                try:
                    add(parse_jsonl_line(line, where), where)
                except ValueError as exc:
                    skipped.append(Skipped(where, str(exc)))
            continue
        article_id = rel[: -len(path.suffix)] if path.suffix else rel
        try:
            add(parse_text_article(article_id, text, rel), rel)
        except ValueError as exc:
            skipped.append(Skipped(rel, str(exc)))
    return Corpus(root=str(base), articles=tuple(articles), skipped=tuple(skipped))


def _windows(paragraph: str, max_words: int) -> list[str]:
    """Split a long paragraph at sentence ends into windows of at most ~max_words words."""
    words = paragraph.split(" ")
    if len(words) <= max_words:
        return [paragraph]
    windows: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in _SENTENCE_END.split(paragraph):
        n = sentence.count(" ") + 1
        if n > max_words:
            # A run-on "sentence" (or a 5 MB line with no punctuation) is cut by words.
            if current:
                windows.append(" ".join(current))
                current, count = [], 0
            sw = sentence.split(" ")
            windows.extend(" ".join(sw[i : i + max_words]) for i in range(0, len(sw), max_words))
            continue
        if count + n > max_words and current:
            windows.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += n
    if current:
        windows.append(" ".join(current))
    return windows


# Quote attribution: `"...," he noted` / `"...," said Pompeo` / `Pompeo said` / `according to X`.
_NAME = r"[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|al-\w+|bin|de|van|von))*"
_VERB = (
    r"(?:said|says|added|noted|told|stated|explained|insisted|declared|replied|asserted|"
    r"stressed|remarked|commented|argued|warned|wrote|claimed|announced)"
)
_PRONOUN_AFTER_QUOTE = re.compile(rf"[\"”],?\s+(?:he|she|they)\s+(?:also\s+)?{_VERB}\b")
_VERB_THEN_NAME = re.compile(rf"[\"”],?\s+{_VERB}\s+(?P<name>{_NAME})")
_NAME_THEN_VERB = re.compile(
    rf"(?P<name>{_NAME})(?:,[^,\"“”]{{1,80}},)?\s+(?:also\s+|has\s+|had\s+|then\s+)?{_VERB}\b"
)
_ACCORDING = re.compile(rf"according to (?:the\s+)?(?P<name>{_NAME})")
_LEADING_NOISE = re.compile(
    r"^(?:The|A|An|But|And|However|In|On|At|US|U\.S\.|UN|Mr\.?|Mrs\.?|Ms\.?|Dr\.?)\s+"
)


_ROLE_WORDS = frozenset(
    """president secretary minister prime deputy chairman chairwoman chair director general
    leader chief spokesman spokeswoman spokesperson senator governor mayor ambassador envoy
    officer commander captain professor king queen prince judge justice editor reporter
    mr mrs ms dr sir lord state foreign""".split()
)


def _clean_name(name: str) -> str:
    """The person's name out of a capitalised run that may start with places and titles."""
    # A sentence end inside the run ("Washington. Kwon Jong Gun") starts a new name.
    name = re.split(r"[.!?]\s+", name.strip(" ,'’"))[-1].strip(" .,'’")
    words = name.split()
    while len(words) > 1 and words[0].lower().strip(".") in _ROLE_WORDS:
        words = words[1:]
    # Places and titles run into names ("North Korea Stephen Biegun"): a long run keeps its
    # last two words; three-word names (Kwon Jong Gun, Moon Jae-in's kin) survive otherwise.
    return " ".join(words[-2:] if len(words) > 3 else words)


def find_speaker(paragraph: str, last_speaker: str) -> tuple[str, bool]:
    """The speaker a paragraph attributes speech to, and whether it only said "he/she".

    Returns ("", False) when the paragraph names no speaker.
    """
    if _PRONOUN_AFTER_QUOTE.search(paragraph):
        return last_speaker, True
    for pattern in (_VERB_THEN_NAME, _NAME_THEN_VERB, _ACCORDING):
        match = pattern.search(paragraph)
        if match:
            name = _LEADING_NOISE.sub("", match.group("name"))
            name = _clean_name(name)
            if name and name.lower() not in ("he", "she", "they", "it", "we", "i"):
                return name, False
    return "", False


def split_passages(article: Article, window_words: int = WINDOW_WORDS) -> list[Passage]:
    """One passage per paragraph, long paragraphs as sentence windows keeping their number.

    A paragraph that attributes a quote only to a pronoun ("..., he noted.") carries the last
    named speaker as indexed context, so a question naming the speaker reaches it.
    """
    passages: list[Passage] = []
    last_speaker = ""
    full_names: dict[str, str] = {}  # surname -> the fullest form the article used
    for number, paragraph in enumerate(article.paragraphs, start=1):
        speaker, by_pronoun = find_speaker(paragraph, last_speaker)
        if speaker and not by_pronoun:
            surname = speaker.split()[-1]
            if len(speaker) >= len(full_names.get(surname, "")):
                full_names[surname] = speaker
            speaker = last_speaker = full_names[surname]
        context = speaker if by_pronoun and speaker else ""
        windows = _windows(paragraph, window_words)
        for w, text in enumerate(windows, start=1):
            pid = f"{article.id}#{number}" if len(windows) == 1 else f"{article.id}#{number}.{w}"
            passages.append(
                Passage(
                    id=pid,
                    article_id=article.id,
                    paragraph=number,
                    window=0 if len(windows) == 1 else w,
                    text=text,
                    context=context,
                    speaker=speaker,
                )
            )
    return passages


def corpus_fingerprint(
    root: str | os.PathLike[str], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> str:
    """A cheap hash of the corpus files' names, sizes and modification times.

    Any edit, addition or removal changes it, without reading the files.
    """
    base = Path(root)
    if not base.is_dir():
        raise CorpusError(
            f"corpus folder {base} does not exist"
            if not base.exists()
            else f"corpus path {base} is not a folder"
        )
    h = hashlib.blake2b(digest_size=16)
    h.update(str(max_file_bytes).encode())
    for path, problem in _iter_files(base):
        try:
            st = path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_mode & 0o444}"
        except OSError as exc:
            stamp = f"error:{exc.errno}"
        h.update(f"{path.relative_to(base).as_posix()}\x00{problem or ''}\x00{stamp}\n".encode())
    return h.hexdigest()
