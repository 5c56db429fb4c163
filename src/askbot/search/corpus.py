"""Read a corpus folder (text, Markdown and JSONL files) into Articles, and Articles into Passages."""

from __future__ import annotations

import codecs
import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from askbot.search.analysis import STOPWORDS, clean_text
from askbot.search.models import Article, Passage, Skipped

try:  # the compiled helpers (setup.py); optional, as the search kernel is
    from askbot.search._chunks import count_spaces as _count_spaces
    from askbot.search._chunks import folded_line as _folded_line
    from askbot.search._chunks import whole_words as _whole_words
except ImportError:  # pragma: no cover - only without a C compiler
    _count_spaces = None  # type: ignore[assignment]
    _folded_line = None  # type: ignore[assignment]
    _whole_words = None  # type: ignore[assignment]

TEXT_SUFFIXES = frozenset({".txt", ".md"})
BULK_SUFFIXES = frozenset({".jsonl"})
FRONT_MATTER_KEYS = frozenset({"title", "date", "url", "source", "author"})
# Files that describe a corpus rather than belong to it (licence and attribution notes).
META_NAMES = frozenset({"readme", "license", "licence", "attribution", "notice", "copying"})
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
WINDOW_WORDS = 120


class _LazyPattern:
    """A regular expression compiled at its first use.

    The speaker-attribution patterns take ~13 ms to compile, and only a build (or a passage
    shown with its speaker's role) uses them; a one-shot ``askbot ask`` should not pay for them.
    """

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    # The methods below read ``_compiled`` first: a call to _get for every search is a Python
    # call more on the speaker pass's hot path.
    def _get(self) -> re.Pattern[str]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self.pattern)
        return compiled

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return (self._compiled or self._get()).search(text, pos, endpos)

    def match(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return (self._compiled or self._get()).match(text, pos, endpos)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return (self._compiled or self._get()).fullmatch(text)

    def finditer(
        self, text: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> Iterator[re.Match[str]]:
        return (self._compiled or self._get()).finditer(text, pos, endpos)

    def sub(self, repl: str, text: str) -> str:
        return (self._compiled or self._get()).sub(repl, text)


_BLANK_LINES = re.compile(r"\n[ \t]*\n")
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


def iter_corpus_files(root: Path) -> Iterator[tuple[Path, str | None]]:
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


def _check_text(data: bytes) -> None:
    """Raise ValueError unless ``_decode`` would decode ``data`` (ASCII needs no decoding)."""
    if b"\x00" in data[:8192] or not data.isascii():
        _decode(data)


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


_ASCII_CONTROL = bytes(range(32)) + b"\x7f"


def _folded_line_py(text: str) -> bool:
    """Whether ``text`` is printable with no whitespace but single inner spaces (``_one_line``
    keeps it as it is); ``_chunks.folded_line`` in Python."""
    # ASCII is printable but for its control bytes, which deleting them finds sooner than
    # str.isprintable() (a Unicode table lookup per character).
    if text.isascii():
        printable = len(text.encode("ascii").translate(None, _ASCII_CONTROL)) == len(text)
    else:
        printable = text.isprintable()
    return printable and "  " not in text and text[:1] != " " and text[-1:] != " "


_is_folded_line: Callable[[str], bool] = _folded_line_py if _folded_line is None else _folded_line


def _one_line(text: str) -> str:
    """``text`` cleaned, its whitespace runs collapsed to one space, stripped."""
    # Most blocks are one line already. A printable text holds no character clean_text removes
    # (all are control or format characters) and no whitespace but " " (every other whitespace
    # character is unprintable), so it is unchanged unless a space is doubled or at an end.
    if _is_folded_line(text):
        return text
    # str.split() splits on exactly the characters regex \s matches (str.isspace()), and is
    # several times faster than re.sub(r"\s+", " ", ...).strip() on long paragraphs.
    return " ".join(clean_text(text).split())


def split_paragraphs(body: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line with whitespace collapsed."""
    out = []
    if "\r" in body:  # a one-character test is a memchr; a replace that finds nothing is not
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    for block in _BLANK_LINES.split(body):
        text = _one_line(block)
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


def source_hash(source: str) -> str:
    """An article's content hash: SHA-256 (first 16 bytes) of its source text (its JSONL line,
    or its file).

    Hashing the source rather than the parsed fields costs no parsing, so a reindex can tell an
    unchanged article by its line alone; SHA-256 has CPU instructions on most machines (several
    times faster here than hashlib's blake2b). Saved indexes record ``ARTICLE_HASH``.
    """
    return source_hash_of_bytes(source.encode("utf-8", "surrogatepass"))


def source_hash_of_bytes(source: bytes | memoryview) -> str:
    """``source_hash`` of the text these UTF-8 bytes decode to."""
    return hashlib.sha256(source).hexdigest()[:32]


# Which content hash the articles of an index carry (``source_hash``).
ARTICLE_HASH = "sha256-16-source"


def parse_text_article(article_id: str, text: str, path: str = "") -> Article:
    """An Article from the text of a .txt/.md file; raises ValueError with a reason."""
    meta, body = _parse_front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    title = meta.get("title", "").strip()
    if not title:
        first, _, body = body.lstrip("\n").partition("\n")
        title = first.strip().lstrip("#").strip()
    title = _one_line(title)
    if not title:
        raise ValueError("empty file")
    paragraphs = split_paragraphs(body)
    if not paragraphs:
        raise ValueError("no paragraphs after the title")
    return _article(article_id, title, paragraphs, meta, path, source_hash(text))


def _article(
    article_id: str,
    title: str,
    paragraphs: list[str],
    meta: dict[str, str],
    path: str,
    content_hash: str,
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
        content_hash=content_hash,
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
    text = str(record["text"])
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    # CMS exports often separate paragraphs by single newlines rather than blank lines.
    paragraphs = split_paragraphs(text if _BLANK_LINES.search(text) else text.replace("\n", "\n\n"))
    if not paragraphs:
        raise ValueError("empty text")
    title = _one_line(str(record["title"]))
    meta = {k: str(record[k]) for k in ("date", "url", "source", "author") if record.get(k)}
    return _article(str(record["id"]).strip(), title, paragraphs, meta, path, source_hash(line))


@dataclass(frozen=True, slots=True)
class Source:
    """The text of one article as found in the corpus: a JSONL line, or a whole text file.

    ``article_id`` is set for text files (their id is their path); a JSONL line holds its own.
    """

    where: str
    text: str
    bulk: bool
    article_id: str = ""

    def parse(self) -> Article:
        """The Article; raises ValueError with a reason."""
        if self.bulk:
            return parse_jsonl_line(self.text, self.where)
        return parse_text_article(self.article_id, self.text, self.where)


def _read_text(path: Path, max_file_bytes: int) -> str:
    """A corpus file's text; raises ValueError with the reason it is skipped."""
    return _decode(_read_checked(path, max_file_bytes))


def iter_sources(
    root: str | os.PathLike[str], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Iterator[Source | Skipped]:
    """Every article source under ``root`` in corpus order, or why a file or line was skipped."""
    base = Path(root)
    if not base.exists():
        raise CorpusError(f"corpus folder {base} does not exist")
    if not base.is_dir():
        raise CorpusError(f"corpus path {base} is not a folder")
    for path, problem in iter_corpus_files(base):
        rel = path.relative_to(base).as_posix()
        if problem:
            yield Skipped(rel, problem)
            continue
        try:
            text = _read_text(path, max_file_bytes)
        except ValueError as exc:
            yield Skipped(rel, str(exc))
            continue
        if path.suffix.lower() in BULK_SUFFIXES:
            for lineno, line in enumerate(text.split("\n"), start=1):
                if line.strip():
                    yield Source(f"{rel}:{lineno}", line, bulk=True)
            continue
        yield Source(
            rel, text, bulk=False, article_id=rel[: -len(path.suffix)] if path.suffix else rel
        )


# A build task reads about this many bytes of corpus files (whole lines of a JSONL file, or
# whole text files), so forked workers can read and parse the corpus themselves.
TASK_BYTES = 4 << 20
TASK_TEXT_FILES = 2000


@dataclass(frozen=True, slots=True)
class FilePart:
    """Whole lines ``[start, end)`` (bytes) of a corpus file; a text file is one part."""

    path: str
    rel: str
    bulk: bool
    start: int
    end: int
    first_line: int  # the line number of the line at ``start``
    article_id: str = ""  # for a text file
    # A reindex: the file has not changed since the saved index read it; its sources are the
    # saved ones, replayed without reading.
    unchanged: bool = False


# (size, mtime_ns, read permission bits) of a file, as the corpus fingerprint sees it.
FileStamp = tuple[int, int, int]


def file_stamp(path: Path) -> FileStamp | None:
    """The file's stamp, or None when it cannot be stat'ed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_mode & 0o444)


@dataclass(frozen=True, slots=True)
class Task:
    """Parts of corpus files to read, and the files skipped (in corpus order) before them."""

    parts: tuple[FilePart, ...]
    skipped_before: tuple[Skipped, ...] = ()


def read_part(part: FilePart) -> Iterator[Source]:
    """The article sources of one file part (the file was checked when the part was planned)."""
    with open(part.path, "rb") as fh:
        fh.seek(part.start)
        data = fh.read(part.end - part.start)
    text = data.decode("utf-8-sig" if part.start == 0 else "utf-8")
    if not part.bulk:
        yield Source(part.rel, text, bulk=False, article_id=part.article_id)
        return
    for lineno, line in enumerate(text.split("\n"), start=part.first_line):
        if line.strip():
            yield Source(f"{part.rel}:{lineno}", line, bulk=True)


# The ASCII characters str.strip() strips: a line of only these is blank.
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def read_lines(part: FilePart) -> Iterator[tuple[str, memoryview]]:
    """A JSONL part's sources as (where, line bytes), not decoded: ``read_part``'s sources,
    whose texts are these bytes decoded (a reindex hashes a line without decoding it). The lines
    are views of the part read once, not copies.

    Raises UnicodeDecodeError when a line that is blank but for non-ASCII bytes does not decode.
    """
    with open(part.path, "rb") as fh:
        fh.seek(part.start)
        data = fh.read(part.end - part.start)
    start = len(codecs.BOM_UTF8) if part.start == 0 and data.startswith(codecs.BOM_UTF8) else 0
    view = memoryview(data)
    size, lineno = len(data), part.first_line
    while start <= size:
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        if start < end:
            first = data[start]
            if first < 0x80 and first not in _ASCII_SPACE:  # the usual "{": not blank
                yield f"{part.rel}:{lineno}", view[start:end]
            else:
                line = data[start:end]
                stripped = line.strip(_ASCII_SPACE)
                if stripped and (stripped[0] < 0x80 or line.decode().strip()):
                    yield f"{part.rel}:{lineno}", view[start:end]
        start, lineno = end + 1, lineno + 1


def plan_tasks(
    root: str | os.PathLike[str],
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    task_bytes: int | None = None,
    *,
    stamps: dict[str, FileStamp] | None = None,
    reuse: Callable[[str, FileStamp], bool] | None = None,
) -> Iterator[Task]:
    """The corpus as build tasks in corpus order; unreadable files are skipped as load_corpus does.

    Each file is read and checked here (size, NUL bytes, UTF-8) and cut at line ends; workers
    then read their parts again (from the page cache), so this process never holds the corpus.
    The stamp of every file read (taken before reading) goes to ``stamps``; a file for which
    ``reuse(rel, stamp)`` is true is not read but planned as one ``unchanged`` part.
    """
    base = Path(root)
    if not base.exists():
        raise CorpusError(f"corpus folder {base} does not exist")
    if not base.is_dir():
        raise CorpusError(f"corpus path {base} is not a folder")
    task_bytes = task_bytes or TASK_BYTES
    skipped: list[Skipped] = []
    texts: list[FilePart] = []
    text_bytes = 0

    def flush_texts() -> Iterator[Task]:
        nonlocal texts, skipped, text_bytes
        if texts:
            yield Task(tuple(texts), tuple(skipped))
            texts, skipped, text_bytes = [], [], 0

    for path, problem in iter_corpus_files(base):
        rel = path.relative_to(base).as_posix()
        if problem:
            skipped.append(Skipped(rel, problem))
            continue
        stamp = file_stamp(path)
        bulk = path.suffix.lower() in BULK_SUFFIXES
        article_id = "" if bulk else rel[: -len(path.suffix)] if path.suffix else rel
        if stamp is not None and reuse is not None and reuse(rel, stamp):
            if stamps is not None:
                stamps[rel] = stamp
            part = FilePart(str(path), rel, bulk, 0, 0, 1, article_id, unchanged=True)
            if bulk:
                yield from flush_texts()
                yield Task((part,), tuple(skipped))
                skipped = []
            else:
                texts.append(part)
            continue
        try:
            if bulk:
                size, ends = _line_ends_checked(path, max_file_bytes)
            else:
                size = len(_read_checked(path, max_file_bytes))
        except ValueError as exc:
            skipped.append(Skipped(rel, str(exc)))
            continue
        if stamps is not None and stamp is not None:
            stamps[rel] = stamp
        if not bulk:
            texts.append(FilePart(str(path), rel, False, 0, size, 1, article_id))
            text_bytes += size
            if text_bytes >= task_bytes or len(texts) >= TASK_TEXT_FILES:
                yield from flush_texts()
            continue
        yield from flush_texts()
        start, line = 0, 1
        while start < size:
            k = int(np.searchsorted(ends, start + task_bytes))  # the first line end from there
            end = size if k == ends.shape[0] else int(ends[k]) + 1
            yield Task((FilePart(str(path), rel, True, start, end, line),), tuple(skipped))
            skipped = []
            line += k + (k < ends.shape[0]) - int(np.searchsorted(ends, start))
            start = end
    yield from flush_texts()
    if skipped:
        yield Task((), tuple(skipped))


def _read_checked(path: Path, max_file_bytes: int) -> bytes:
    """A corpus file's bytes, known to decode; raises ValueError with the reason it is skipped."""
    with _reading(path, max_file_bytes):
        data = path.read_bytes()
    _check_text(data)
    return data


@contextmanager
def _reading(path: Path, max_file_bytes: int) -> Iterator[None]:
    """Check a corpus file's size, then read it in the block: a reason it cannot be read (or is
    too large or empty) is raised as ValueError."""
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            raise ValueError(f"file is {size:,} bytes, over the {max_file_bytes:,}-byte limit")
        if size == 0:
            raise ValueError("empty file")
        yield
    except PermissionError:
        raise ValueError("permission denied (cannot read the file)") from None
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None


# A JSONL file is checked and cut into tasks from blocks of this many bytes read into one
# buffer: planning never holds a whole file (nor pays for a fresh copy of each one).
CHECK_BLOCK = 4 << 20


def _line_ends_checked(path: Path, max_file_bytes: int) -> tuple[int, npt.NDArray[np.int64]]:
    """A JSONL file's size and the offset of each of its line ends, the file known to decode
    (as ``_read_checked``'s; raises ValueError with the reason it is skipped)."""
    with _reading(path, max_file_bytes):
        scanned = _scan_line_ends(path)
    if scanned is not None:
        return scanned
    data = _read_checked(path, max_file_bytes)  # NUL bytes or not UTF-8: raises the reason
    return len(data), np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))


def _scan_line_ends(path: Path) -> tuple[int, npt.NDArray[np.int64]] | None:
    """The file's size and line ends, or None when it may not decode (``_check_text`` says)."""
    buf = bytearray(CHECK_BLOCK)
    view = memoryview(buf)
    decoder: codecs.IncrementalDecoder | None = None  # once a byte is not ASCII
    ends: list[npt.NDArray[np.int64]] = []
    at = 0
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(view):
            block = np.frombuffer(buf, dtype=np.uint8, count=n)
            if at == 0 and buf.find(b"\x00", 0, min(n, 8192)) >= 0:
                return None
            if decoder is None and int(block.max()) >= 0x80:
                decoder = codecs.getincrementaldecoder("utf-8")()  # the blocks before are ASCII
            if decoder is not None:
                try:
                    decoder.decode(view[:n])
                except UnicodeDecodeError:
                    return None
            ends.append(np.flatnonzero(block == ord("\n")) + at)
            at += n
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return at, np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)


class ArticleIds:
    """The first article with an id wins; later ones are skipped as duplicates (corpus order)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def duplicate(self, article_id: str, where: str) -> Skipped | None:
        """None when ``article_id`` is new (and now taken), else the reason it is skipped."""
        first = self._seen.get(article_id)
        if first is None:
            self._seen[article_id] = where
            return None
        return Skipped(where, f"duplicate article id {article_id!r} (first in {first})")

    def take_all(self, article_ids: list[str], wheres: list[str]) -> bool:
        """Take every id at once when none is taken yet or repeated (True); else take none."""
        seen = self._seen
        if len(set(article_ids)) != len(article_ids) or not seen.keys().isdisjoint(article_ids):
            return False
        seen.update(zip(article_ids, wheres, strict=True))
        return True


def load_corpus(
    root: str | os.PathLike[str], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Corpus:
    """Read every article under ``root``; bad files are skipped with a reason, never fatal."""
    articles: list[Article] = []
    skipped: list[Skipped] = []
    ids = ArticleIds()
    for source in iter_sources(root, max_file_bytes):
        if isinstance(source, Skipped):
            skipped.append(source)
            continue
        try:
            article = source.parse()
        except ValueError as exc:
            skipped.append(Skipped(source.where, str(exc)))
            continue
        duplicate = ids.duplicate(article.id, source.where)
        if duplicate is not None:
            skipped.append(duplicate)
        else:
            articles.append(article)
    return Corpus(root=str(Path(root)), articles=tuple(articles), skipped=tuple(skipped))


def _spaces_py(text: str) -> int:
    return text.count(" ")


# text.count(" "): compiled, without str.count's branch on every space found.
_spaces: Callable[[str], int] = _spaces_py if _count_spaces is None else _count_spaces


def _windows(paragraph: str, max_words: int) -> list[str]:
    """Split a long paragraph at sentence ends into windows of at most ~max_words words."""
    if _spaces(paragraph) < max_words:  # at most max_words words
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


# -- speakers -------------------------------------------------------------------------------------
# Who a paragraph quotes: `"...," Pompeo said` / `said Pompeo` / `Pompeo, a diplomat, said` /
# `according to X` / `"...," he noted` (the last named speaker) / a paragraph that only continues
# the previous one's quote. Quoted text is masked before any of this, so a name or "I'm told"
# inside a quotation is never taken for its speaker.

# Bump when these rules change which speaker a passage gets: saved indexes must then be rebuilt.
SPEAKER_RULES_VERSION = 2

# A capitalised run of at most eight words: bounded, so a long run of capitals (a headline-case
# list) cannot make the patterns below backtrack quadratically.
_NAME = r"[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|al-\w+|bin|de|van|von)){0,7}"
# Attribution is looked for in a paragraph's first characters only: a 5 MB "paragraph" costs
# no more than a long one.
ATTRIBUTION_CHARS = 5000
_VERBS = tuple(
    "said says added adds noted notes told tells stated explained explains insisted "
    "declared replied asserted stressed remarked commented argued argues warned warns wrote "
    "writes claimed claims announced tweeted observed recalled acknowledged admitted "
    "denied saying stating adding noting telling".split()
)
_VERB = f"(?:{'|'.join(_VERBS)})"


# Where are the speech verbs (outside quotes)? Most paragraphs have none: then nothing else runs.
_SPEECH_WORDS = frozenset((*_VERBS, "continued"))
_SPEECH_WORD_TUPLE = tuple(sorted(_SPEECH_WORDS))
# Bytes of a paragraph's UTF-8 with every byte that is not an ASCII word character made a space:
# a speech verb that is a whole word of the text is then a word between two spaces.
_WORD_BYTES = bytes(c if c < 128 and (chr(c).isalnum() or c == 95) else 32 for c in range(256))
_AUX = r"(?:(?:also|has|had|have|then|later|previously|once|further)\s+){0,2}"
# Masks quoted text: not a word character, not whitespace, not a quote, so no pattern crosses it.
_MASK = "·"
_QUOTE_MARK = _LazyPattern('["“”]')
_PRONOUN = _LazyPattern(
    rf"(?:^|[.!?:;]\s+|[\"”],?\s+)(?P<pronoun>[Hh]e|[Ss]he|[Tt]hey)\s+{_AUX}"
    rf"(?:{_VERB}\b|continued(?=\s*[:,]))"
)
_VERB_THEN_NAME = _LazyPattern(rf"[\"”],?\s+{_VERB}\s+(?P<name>{_NAME})")
# An appositive between name and verb may hold commas ("Cynthia Thompson, curator at the
# University of Arkansas, Fayetteville, said") but never a quote or a sentence end.
_NAME_THEN_VERB = _LazyPattern(rf"(?P<name>{_NAME})(?:,\s[^\"“”·.;]{{1,120}}?,)?\s+{_AUX}{_VERB}\b")
# Read backwards from a verb (on the reversed text), these reach at least as far back as any
# _NAME_THEN_VERB or _PRONOUN match that ends at that verb can start (see _starts_before).
_AUX_BACK = r"\s*(?:[a-z]+\s+){0,2}"
# A comma before the auxiliaries may close an appositive: ",\s" + at most 120 characters + ",".
_NAME_BACK = _LazyPattern(_AUX_BACK + r"(?:,[\s\S]{0,122})?\s*\S*(?:\s+\S+){0,8}")
_PRONOUN_BACK = _LazyPattern(_AUX_BACK + r"[A-Za-z]*\s*[\s\S]{0,2}")
_QUOTE_BEFORE = _LazyPattern(r"[\"”]\s*,?\s*$")
_QUOTE_FOLLOWS = _LazyPattern(r"[^.!?\"“”·]{0,60}?[,:]\s*[\"“]")
# "according to the team's coach, Alireza Mehraban": a role ending in a lowercase noun, a comma,
# then the name (not "according to Rathbun, Daniel was ...").
_ACCORDING_APPOSITIVE = _LazyPattern(
    rf"[Aa]ccording to [^,.;\"“”·]{{0,40}}?\b[a-z][\w'’-]*,\s+(?P<name>{_NAME})"
)
_ACCORDING = _LazyPattern(
    rf"[Aa]ccording to (?:the\s+)?(?:(?!an?\s)[a-z][\w'’-]*\s+){{0,3}}(?P<name>{_NAME})"
)
# "according to Afghan Ambassador to the United States Hamdullah Mohib, ...": a title, then the
# name that ends the clause.
_ACCORDING_TITLED = _LazyPattern(
    rf"[Aa]ccording to [^,.;\"“”·]{{0,60}}?\b(?P<name>{_NAME})(?=[,;]|\.\s|\.$)"
)
# The subject of a sentence, when it is a two- or three-word name: who "he said" refers to.
_SUBJECT = _LazyPattern(
    r"(?:^|[.!?]\s+)(?:(?:For|After|Then|Meanwhile|Later|But|And|So|Also)\s+)?"
    r"(?P<name>[A-Z][a-z][\w'’-]*(?:\s+[A-Z][a-z][\w'’-]*){1,2})\b(?!\s+[A-Z])"
)
_LEADING_NOISE = _LazyPattern(
    r"^(?:(?:The|A|An|But|And|However|In|On|At|For|As|After|When|While|US|U\.S\.|UN|"
    r"Mr\.?|Mrs\.?|Ms\.?|Dr\.?)\s+)+"
)
_NOT_NAMES = frozenset({"he", "she", "they", "it", "we", "i", "i'm", "you", "this", "that"})

ROLE_WORDS = frozenset([
    "president", "vice", "secretary", "minister", "prime", "deputy", "chairman", "chairwoman",
    "chairperson", "chair", "director", "general", "leader", "chief", "spokesman",
    "spokeswoman", "spokesperson", "senator", "governor", "mayor", "ambassador", "envoy",
    "officer", "commander", "captain", "coach", "manager", "professor", "king", "queen",
    "prince", "princess", "judge", "justice", "editor", "reporter", "mr", "mrs", "ms", "dr",
    "sir", "lord", "dame", "state", "foreign", "home", "shadow", "administrator",
    "undersecretary", "commissioner", "chancellor", "premier", "acting", "former", "executive",
    "ceo", "founder", "head", "sheriff", "detective", "inspector", "superintendent",
    "congressman", "congresswoman", "rep", "sen", "gov", "gen", "lt", "col", "sgt", "attorney",
    "lawyer", "pope", "bishop", "cardinal", "rabbi", "imam", "reverend", "rev", "father",
    "curator", "instructor", "lecturer", "dean", "principal", "analyst", "economist",
    "researcher", "scientist", "author", "associate", "assistant", "special", "senior"
])  # fmt: skip


def _mask_quotes(text: str) -> tuple[str, bool, bool]:
    """``text`` with quoted words masked, whether it opens inside a quote, and leaves one open.

    Curly quotes say which way they face; a straight one opens unless a quote is already open,
    or it is the paragraph's first and follows a word (the end of a quote the previous paragraph
    began).
    """
    # Most paragraphs have no quote: substring tests beat a regex scan, and ASCII (a flag, read
    # at once) holds no curly quote.
    if '"' not in text and (text.isascii() or ("“" not in text and "”" not in text)):
        return text, False, False
    marks = [m.start() for m in _QUOTE_MARK.finditer(text)]
    masked: list[tuple[int, int]] = []
    inside = starts_inside = False
    start = 0
    for n, i in enumerate(marks):
        ch = text[i]
        closing = ch == "”" or (ch == '"' and inside)
        if n == 0 and ch == '"' and i > 0 and not text[i - 1].isspace():
            closing = text[i - 1] not in "([{—–-/"
        if closing and not inside and n == 0:
            starts_inside, inside, start = True, True, 0
        if closing and inside:
            masked.append((start, i))
            inside = False
        elif not closing and not inside:
            inside, start = True, i + 1
    if inside:
        masked.append((start, len(text)))
    parts = []
    pos = 0
    for a, b in masked:
        parts += [text[pos:a], _MASK * (b - a)]
        pos = b
    parts.append(text[pos:])
    return "".join(parts), starts_inside, inside


def _clean_name(name: str, after_of: bool = False, leads: bool = False) -> str:
    """The person's name out of a capitalised run that may start with places and titles.

    ``after_of``: the run follows "of" ("Minister of Education Stefania Giannini"), so its first
    word belongs to the title. ``leads``: the name opens the run (it follows "said" or
    "according to"), so a sentence end inside the run ends the name.
    """
    # A sentence end inside the run ("Washington. Kwon Jong Gun") starts a new name.
    parts = re.split(r"[.!?]\s+", name.strip(" ,'’"))
    name = (parts[0] if leads else parts[-1]).strip(" .,'’")
    if len(parts) > 1 and not leads:
        after_of = False
    name = _LEADING_NOISE.sub("", name)
    words = name.split()
    if after_of and len(words) >= 3:
        words = words[1:]
    while len(words) > 1 and words[0].lower().strip(".") in ROLE_WORDS:
        words = words[1:]
    # Places and titles run into names ("North Korea Stephen Biegun"): a long run keeps its
    # last two words; three-word names (Kwon Jong Gun, Moon Jae-in's kin) survive otherwise.
    return " ".join(words[-2:] if len(words) > 3 else words)


# A run ending in one of these is a title, not a name ("Afghan Ambassador"). Titles that are
# also surnames (King, Judge, Dean, Bishop) are left out.
_TITLE_ENDINGS = frozenset([
    "president", "secretary", "minister", "chairman", "chairwoman", "director", "spokesman",
    "spokeswoman", "spokesperson", "senator", "governor", "mayor", "ambassador", "envoy",
    "officer", "commander", "coach", "manager", "professor", "administrator", "ceo",
    "undersecretary", "commissioner", "chancellor", "premier", "official",
])  # fmt: skip


def _is_name(name: str) -> bool:
    return (
        bool(name)
        and name.lower() not in _NOT_NAMES
        and name[0].isupper()
        and name.split()[-1].lower() not in _TITLE_ENDINGS
    )


def _named(masked: str, match: re.Match[str], leads: bool = False) -> str:
    before = masked[: match.start("name")]
    name = _clean_name(match.group("name"), before.rstrip().endswith(" of"), leads)
    return name if _is_name(name) else ""


@functools.cache
def _spaced_speech_words() -> re.Pattern[bytes]:
    # Grouped by first letter: a space before a word no verb starts with fails at one test.
    groups: dict[str, list[str]] = {}
    for word in sorted(_SPEECH_WORDS):
        groups.setdefault(word[0], []).append(word[1:])
    branches = "|".join(f"{c}(?:{'|'.join(rest)})" for c, rest in groups.items())
    return re.compile(f" ((?:{branches}))(?= )".encode())


def _is_word(ch: str) -> bool:
    """Whether regex \\w matches the character ``ch``."""
    return ch.isalnum() or ch == "_"


def _speech_words(masked: str) -> list[tuple[int, int]]:
    """(start, end) of each speech verb or "continued" in ``masked`` that is a whole word
    (what ``\\b(?:said|...|continued)\\b`` finds), in order.

    The compiled ``_chunks.whole_words`` reads each word once; without it, ``_speech_words_py``.
    """
    if _whole_words is not None:
        return _whole_words(masked, _SPEECH_WORD_TUPLE)
    return _speech_words_py(masked)


def _speech_words_py(masked: str) -> list[tuple[int, int]]:
    """``_speech_words`` in Python.

    One regex pass over the text would try the words at every character (~20 us a paragraph);
    here the pass looks only after spaces, in the paragraph's bytes with every non-word
    character made a space (a non-ASCII letter too, which only adds candidates); each candidate
    word is then looked for in the text itself, whole words only.
    """
    spaced = b"".join((b" ", masked.encode("utf-8", "surrogatepass").translate(_WORD_BYTES), b" "))
    found = _spaced_speech_words().findall(spaced)
    if not found:
        return []
    spans: list[tuple[int, int]] = []
    for word in set(found):
        verb = word.decode()
        at = masked.find(verb)
        while at >= 0:
            end = at + len(verb)
            if (at == 0 or not _is_word(masked[at - 1])) and (
                end == len(masked) or not _is_word(masked[end])
            ):
                spans.append((at, end))
            at = masked.find(verb, at + 1)
    spans.sort()
    return spans


def _starts_before(
    masked: str, backwards: str, spans: list[tuple[int, int]], appositive: bool
) -> list[tuple[int, int, int]]:
    """Where a _NAME_THEN_VERB (``appositive``) or _PRONOUN match ending at one of ``spans``
    can start: disjoint regions ``[lo, hi)`` of start positions, each with ``limit``, the end of
    the text any such match (and the regex deciding it) reads; as (lo, hi, limit), in order.

    Backwards from a verb such a match holds whitespace and at most two lowercase auxiliaries
    (_AUX_BACK, greedy, takes at least as much: each maximal run it takes is one the match
    holds, or more). Then for a name, an appositive of at most 123 characters if a comma comes
    next, and a name of at most 8 words, each inside one whitespace-separated chunk (9 chunks
    are taken: one to spare); for a pronoun, the pronoun, whitespace and at most two characters before it.
    """
    size = len(masked)
    back_pattern = _NAME_BACK if appositive else _PRONOUN_BACK
    regions: list[tuple[int, int, int]] = []
    for start, end in spans:
        back = back_pattern.match(backwards, size - start)
        lo = start - (back.end() - back.start()) if back else start
        limit = end
        if masked.startswith("continued", start) and end - start == 9:
            # "continued(?=\s*[:,])" reads the whitespace after it and one more character.
            limit = min(size, len(masked[end:]) - len(masked[end:].lstrip()) + end + 1)
        regions.append((lo, start, limit))
    regions.sort()
    merged: list[tuple[int, int, int]] = []
    for lo, hi, limit in regions:
        if merged and lo <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], hi), max(last[2], limit))
        else:
            merged.append((lo, hi, limit))
    return merged


def _names_then_verbs(
    masked: str, backwards: str, verbs: list[tuple[int, int]]
) -> Iterator[re.Match[str]]:
    """What ``_NAME_THEN_VERB.finditer(masked)`` yields, searching only near ``verbs``.

    A match ending at a verb starts in that verb's region, and every regex path from there
    that succeeds reads no further than the region's limit (the end of its last verb, where a
    non-word character or the text's end follows): searched up to the limit, each start finds
    the match it finds in the whole text, and outside the regions no match starts.
    """
    pos = 0
    for lo, hi, limit in _starts_before(masked, backwards, verbs, appositive=True):
        at = max(lo, pos)
        while at < hi:
            match = _NAME_THEN_VERB.search(masked, at, limit)
            if match is None:
                break
            yield match
            at = pos = match.end()


def _pronoun(masked: str, backwards: str, words: list[tuple[int, int]]) -> re.Match[str] | None:
    """What ``_PRONOUN.search(masked)`` finds, searching only before speech ``words``."""
    for lo, _, limit in _starts_before(masked, backwards, words, appositive=False):
        match = _PRONOUN.search(masked, lo, limit)
        if match is not None:
            return match
    return None


def _speech(
    masked: str, last_speaker: str, words: list[tuple[int, int]]
) -> tuple[str, bool] | None:
    """The speaker of a paragraph (quotes masked) by its speech verbs, or None.

    ``words``: the speech verbs and "continued" of ``masked`` (``_speech_words``).
    """
    adjacent: list[tuple[int, str]] = []
    general: list[tuple[int, str]] = []
    if '"' in masked or "”" in masked:
        for match in _VERB_THEN_NAME.finditer(masked):
            name = _named(masked, match, leads=True)
            if name:
                adjacent.append((match.start(), name))
    backwards = masked[::-1]
    verbs = [w for w in words if not masked.startswith("continued", w[0])]
    for match in _names_then_verbs(masked, backwards, verbs):
        name = _named(masked, match)
        if not name:
            continue
        start = match.start()
        touches = _QUOTE_BEFORE.search(masked, max(0, start - 8), start) or _QUOTE_FOLLOWS.match(
            masked, match.end()
        )
        (adjacent if touches else general).append((match.start(), name))
    if adjacent:
        return min(adjacent)[1], False
    pronoun = _pronoun(masked, backwards, words)
    if pronoun:
        earlier = [g for g in general if g[0] < pronoun.start("pronoun")]
        if earlier:
            return min(earlier)[1], False
        if pronoun.group("pronoun").lower() != "they":
            subjects = list(_SUBJECT.finditer(masked, 0, pronoun.start("pronoun")))
            for subject in reversed(subjects):
                name = _clean_name(subject.group("name"))
                if _is_name(name) and len(name.split()) > 1:
                    return name, False
        return last_speaker, True
    if general:
        return min(general)[1], False
    return None


def find_speaker(paragraph: str, last_speaker: str) -> tuple[str, bool]:
    """The speaker a paragraph attributes speech to, and whether it only said "he/she".

    A name next to a quotation wins ("...," Biegun said / said Biegun / Biegun said: "...");
    then a pronoun next to speech, meaning a name said earlier in the paragraph, or else the
    article's last speaker (``by_pronoun``: the name is not in the text); then any "Name said"
    or "according to Name". Returns ("", False) when the paragraph names no speaker.
    """
    masked, _, _ = _mask_quotes(paragraph[:ATTRIBUTION_CHARS])
    return _attribution(masked, last_speaker, _speech_words(masked))


def _attribution(masked: str, last_speaker: str, words: list[tuple[int, int]]) -> tuple[str, bool]:
    """``find_speaker`` of a masked paragraph whose speech verbs are ``words``."""
    # Most paragraphs have no speech verb outside quotes.
    if words:
        named = _speech(masked, last_speaker, words)
        if named is not None:
            return named
    if "ccording to" not in masked:
        return "", False
    for pattern in (_ACCORDING_APPOSITIVE, _ACCORDING, _ACCORDING_TITLED):
        according = pattern.search(masked)
        if according:
            name = _named(masked, according, leads=True)
            if name:
                return name, False
    return "", False


def speaker_role(paragraph: str, name: str) -> str:
    """The title or office the paragraph gives ``name`` ("US Deputy Secretary of State ..."), or ''.

    The words before the name in its sentence when they hold a title word, else an appositive
    after it ("Kwon Jong Gun, director general of ..., said"). Not indexed: a display helper.
    """
    masked, _, _ = _mask_quotes(paragraph)
    at = masked.find(name)
    if at < 0 or not name:
        return ""
    sentence_start = max(masked.rfind(". ", 0, at), masked.rfind(": ", 0, at))
    before = masked[sentence_start + 1 if sentence_start >= 0 else 0 : at].strip(" ,")
    before = re.sub(r"^(?:(?:The|A|An|In|On|At|As|But|And|However|Meanwhile)\s+)+", "", before)
    words = before.split()[-14:]
    if any(w.lower().strip(".,") in ROLE_WORDS for w in words) and _MASK not in before:
        return " ".join(words).strip(" ,")
    after = re.match(r",\s([^\"“”·.;]{1,120}?),", masked[at + len(name) :])
    if after and any(w.lower() in ROLE_WORDS for w in after.group(1).split()):
        return after.group(1).strip()
    return ""


def _fuller_name(surname: str, text: str) -> str:
    """A "Given Surname" form of a one-word speaker from the article's text, or ''."""
    at = text.find(surname)
    while at >= 0:
        end = at + len(surname)
        if at > 0 and text[at - 1] == " " and (end == len(text) or not text[end].isalnum()):
            given = text[max(0, at - 40) : at - 1].rsplit(None, 1)[-1:]
            word = given[0] if given else ""
            low = word.lower()
            if (
                _GIVEN.fullmatch(word)
                and not word.isupper()
                and low not in ROLE_WORDS
                and low not in STOPWORDS
                and low not in _OPENERS
            ):
                return f"{word} {surname}"
        at = text.find(surname, end)
    return ""


_GIVEN = _LazyPattern(r"[A-Z][\w'’-]+")
# Capitalised at a sentence start without being a name ("Yesterday Biegun said").
_OPENERS = frozenset([
    "yesterday", "today", "tomorrow", "meanwhile", "later", "however", "also", "although",
    "though", "since", "because", "earlier", "last", "next", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday"
])  # fmt: skip


def split_passages(article: Article, window_words: int = WINDOW_WORDS) -> list[Passage]:
    """One passage per paragraph, long paragraphs as sentence windows keeping their number.

    Each passage carries the speaker its paragraph quotes, by the fullest name the article uses
    ("Biegun" -> "Stephen Biegun"). A paragraph that names its speaker only by a pronoun
    ("..., he noted."), or only continues the previous paragraph's quotation, carries that
    speaker as indexed context, so a question naming the speaker reaches it.
    """
    aid = article.id
    return [
        Passage(f"{aid}#{number}" if window == 0 else f"{aid}#{number}.{window}", aid,
                number, window, text, context, speaker)
        for number, window, text, context, speaker in passage_rows(article, window_words)
    ]  # fmt: skip


# A passage as a build keeps it: paragraph number, window (0: the whole paragraph), text,
# context, speaker. The passage id follows from the article's id, the number and the window.
PassageRow = tuple[int, int, str, str, str]


def passage_rows(article: Article, window_words: int = WINDOW_WORDS) -> list[PassageRow]:
    """The passages of ``split_passages`` as plain tuples: a build needs no Passage objects."""
    rows: list[PassageRow] = []
    last_speaker = ""
    previous = ""  # the speaker of the paragraph just before
    previous_open = False  # whether the paragraph just before left a quotation open
    full_names: dict[str, str] = {}  # surname -> the fullest form the article used
    body = ""
    # Most paragraphs have no quote, no speech verb and no "according to": their tests are
    # inlined here (the functions they stand for are the definition).
    find_words = _speech_words if _whole_words is None else None
    spaces = _spaces
    for number, paragraph in enumerate(article.paragraphs, start=1):
        masked = paragraph[:ATTRIBUTION_CHARS]
        if '"' in masked or not (masked.isascii() or ("“" not in masked and "”" not in masked)):
            masked, starts_inside, left_open = _mask_quotes(masked)
        else:
            starts_inside = left_open = False
        words = (
            _whole_words(masked, _SPEECH_WORD_TUPLE) if find_words is None else find_words(masked)
        )
        if words or "ccording to" in masked:
            speaker, by_pronoun = _attribution(masked, last_speaker, words)
        else:
            speaker, by_pronoun = "", False
        if len(paragraph) > ATTRIBUTION_CHARS:
            _, _, left_open = _mask_quotes(paragraph[-ATTRIBUTION_CHARS:])
        if (
            not speaker
            and previous
            and (previous_open or starts_inside or paragraph.startswith(('"', "“")))
        ):
            speaker, by_pronoun = previous, True
        if speaker and not by_pronoun:
            surname = speaker.split()[-1]
            if " " not in speaker and surname not in full_names:
                body = body or "\n".join(article.paragraphs)
                full_names[surname] = _fuller_name(surname, body) or speaker
            if len(speaker) >= len(full_names.get(surname, "")):
                full_names[surname] = speaker
            speaker = last_speaker = full_names[surname]
        previous, previous_open = speaker, left_open and bool(speaker)
        context = speaker if by_pronoun and speaker else ""
        # A paragraph of at most window_words words is one window (_windows' first test).
        windows = (
            [paragraph] if spaces(paragraph) < window_words else _windows(paragraph, window_words)
        )
        if len(windows) == 1:
            rows.append((number, 0, windows[0], context, speaker))
        else:
            rows += ((number, w, text, context, speaker) for w, text in enumerate(windows, 1))
    return rows


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
    for path, problem in iter_corpus_files(base):
        try:
            st = path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_mode & 0o444}"
        except OSError as exc:
            stamp = f"error:{exc.errno}"
        h.update(f"{path.relative_to(base).as_posix()}\x00{problem or ''}\x00{stamp}\n".encode())
    return h.hexdigest()
