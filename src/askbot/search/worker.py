"""Build and save an index in a separate process: `python -m askbot.search.worker` reads a JSON spec.

A build is pure CPU; in its own process it cannot hold the bot's event loop (or its GIL). The
worker also compares the new index with the one it replaces (``previous``), so the bot receives
the added, changed and removed article ids instead of parsing every article of both indexes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from askbot.search.analysis import Analyzer
from askbot.search.corpus import CorpusError
from askbot.search.index import BM25Params, Index, IndexFormatError
from askbot.search.store import Changes, IndexSpec, build_and_save


@dataclass(frozen=True, slots=True)
class Built:
    """What a worker reported: the saved folder, and the changes when it could compare."""

    path: str
    changes: Changes | None


def spec_to_json(spec: IndexSpec, previous: Path | None = None) -> str:
    """The spec as JSON for the worker's standard input.

    ``previous`` is the saved folder of the index being replaced: the worker reports the
    changes against it (when it can still read it).
    """
    return json.dumps(
        {
            "corpus_dir": str(spec.corpus_dir),
            "index_root": str(spec.index_root),
            "params": asdict(spec.params),
            "max_file_bytes": spec.max_file_bytes,
            "language": spec.language,
            "previous": None if previous is None else str(previous),
        }
    )


def spec_from_json(text: str) -> IndexSpec:
    """The inverse of spec_to_json."""
    raw: dict[str, Any] = json.loads(text)
    return IndexSpec(
        corpus_dir=Path(raw["corpus_dir"]),
        index_root=Path(raw["index_root"]),
        params=BM25Params(**raw["params"]),
        max_file_bytes=int(raw["max_file_bytes"]),
        language=str(raw["language"]),
    )


def previous_from_json(text: str) -> Path | None:
    """The replaced index's folder named in a spec, if any."""
    previous = json.loads(text).get("previous")
    return None if previous is None else Path(previous)


def parse_result(stdout: str) -> dict[str, Any]:
    """The worker's result: its last line of output as JSON ({} when there is none)."""
    lines = stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return result if isinstance(result, dict) else {}


def built_from_result(result: Mapping[str, Any]) -> Built:
    """The folder and changes of a successful worker result (one with a "path")."""
    changes = None
    if isinstance(result.get("changes"), dict):
        raw = result["changes"]
        changes = Changes(
            added=tuple(raw["added"]), changed=tuple(raw["changed"]), removed=tuple(raw["removed"])
        )
    return Built(path=str(result["path"]), changes=changes)


def _hashes_of(folder: Path | None) -> dict[str, str] | None:
    """Article id -> content hash of the index saved in ``folder``; None if it cannot be read."""
    if folder is None:
        return None
    try:
        return Index.load(folder).content_hashes()
    except (IndexFormatError, OSError, ValueError, KeyError, TypeError):
        return None


def main() -> int:
    """Read a spec on stdin, build and save; print {"path", "changes"} or {"error"} as one line."""
    # On a small machine the build competes with the bot for cores: the bot's event loop must
    # win, so the build runs at a lower priority (best effort; not every platform allows it).
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    try:
        text = sys.stdin.read()
        spec = spec_from_json(text)
        # Read before building: the build may prune the replaced folder once it has saved.
        before = _hashes_of(previous_from_json(text))
        opened = build_and_save(spec, Analyzer(spec.language))
    except (CorpusError, OSError, ValueError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 3
    result: dict[str, Any] = {"path": str(opened.path)}
    if before is not None:
        result["changes"] = asdict(Changes.between(before, opened.index.content_hashes()))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
