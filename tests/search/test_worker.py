"""The build worker: its spec round trip, and the changes it reports against the replaced index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import SEED_ID, write

from askbot.search.analysis import Analyzer
from askbot.search.store import Changes, IndexSpec, build_and_save, compare
from askbot.search.worker import (
    built_from_result,
    parse_result,
    previous_from_json,
    spec_from_json,
    spec_to_json,
)


def run_worker(spec: IndexSpec, previous: Path | None) -> dict[str, object]:
    """Run `python -m askbot.search.worker` as the bot does and return its result line."""
    out = subprocess.run(
        [sys.executable, "-m", "askbot.search.worker"],
        input=spec_to_json(spec, previous),
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_result(out.stdout)


def test_changes_between_two_hash_maps_are_sorted_ids() -> None:
    """New ids are added, other hashes changed, missing ids removed; each sorted."""
    before = {"b": "1", "a": "1", "gone": "1", "same": "1"}
    after = {"z": "2", "y": "2", "b": "2", "a": "3", "same": "1"}
    assert Changes.between(before, after) == Changes(
        added=("y", "z"), changed=("a", "b"), removed=("gone",)
    )


def test_the_spec_and_the_replaced_folder_survive_the_json_round_trip(tmp_path: Path) -> None:
    """spec_from_json and previous_from_json read back what spec_to_json wrote."""
    spec = IndexSpec(tmp_path / "corpus", tmp_path / "idx")
    text = spec_to_json(spec, tmp_path / "idx" / "old")
    assert spec_from_json(text) == spec
    assert previous_from_json(text) == tmp_path / "idx" / "old"
    assert previous_from_json(spec_to_json(spec)) is None


def test_the_worker_reports_the_changes_compare_would(corpus_dir: Path, tmp_path: Path) -> None:
    """Against the replaced index's folder, the worker lists what store.compare lists."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    old = build_and_save(spec, Analyzer())
    (corpus_dir / "wikinews" / "crane.md").unlink()
    seed = corpus_dir / f"{SEED_ID}.txt"
    seed.write_text(seed.read_text() + "\n\nA new closing paragraph.\n")
    write(corpus_dir / "extra" / "zanzibar.txt", "Zanzibar ferry\n\nThe ferry docked at noon.")
    built = built_from_result(run_worker(spec, old.path))
    new = build_and_save(spec, Analyzer()).index
    expected = compare(old.index, new, 0.0)
    assert built.changes == Changes(
        added=expected.added, changed=expected.changed, removed=expected.removed
    )
    assert built.changes.added == ("extra/zanzibar",)


def test_the_worker_reports_no_changes_when_the_replaced_folder_is_gone(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """Without a readable previous index the result has only the path (the bot compares)."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    result = run_worker(spec, tmp_path / "idx" / "deleted")
    assert "changes" not in result
    built = built_from_result(result)
    assert built.changes is None and (Path(built.path) / "meta.json").exists()


def test_a_result_line_that_is_not_json_reads_as_empty() -> None:
    """A worker that died mid-line leaves no result, not an exception."""
    assert parse_result('{"path": "/x"') == {}
    assert parse_result("") == {}
    assert parse_result(json.dumps([1])) == {}
