"""Build and save an index in a separate process: `python -m askbot.search.worker` reads a JSON spec.

A build is pure CPU; in its own process it cannot hold the bot's event loop (or its GIL).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from askbot.search.analysis import Analyzer
from askbot.search.corpus import CorpusError
from askbot.search.index import BM25Params
from askbot.search.store import IndexSpec, build_and_save


def spec_to_json(spec: IndexSpec) -> str:
    """The spec as JSON for the worker's standard input."""
    return json.dumps(
        {
            "corpus_dir": str(spec.corpus_dir),
            "index_root": str(spec.index_root),
            "params": asdict(spec.params),
            "max_file_bytes": spec.max_file_bytes,
            "language": spec.language,
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


def main() -> int:
    """Read a spec on stdin, build and save; print {"path"} or {"error"} as one JSON line."""
    # On a small machine the build competes with the bot for cores: the bot's event loop must
    # win, so the build runs at a lower priority (best effort; not every platform allows it).
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    try:
        spec = spec_from_json(sys.stdin.read())
        opened = build_and_save(spec, Analyzer(spec.language))
    except (CorpusError, OSError, ValueError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 3
    print(json.dumps({"path": str(opened.path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
