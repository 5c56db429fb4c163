"""The `askbot` command line: ask, index, sources, log, stats, config, health, init, forget."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SEED_ID, write

from askbot.cli import main


@pytest.fixture
def env(corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings pointing at a private corpus copy and data folder; returns the data folder."""
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASKBOT_CORPUS_DIR", str(corpus_dir))
    monkeypatch.setenv("ASKBOT_DATA_DIR", str(data))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return data


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_ask_json_cites_both_biegun_quote_paragraphs(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seed article's paragraphs 7 and 8 are among the top 3, with citations."""
    assert main(["ask", "--json", "what did Biegun say?"]) == 0
    (out,) = _json_lines(capsys.readouterr().out)
    assert out["answered"] is True
    passages = out["passages"]
    assert isinstance(passages, list)
    assert {(p["article"], p["paragraph"]) for p in passages} >= {(SEED_ID, 7), (SEED_ID, 8)}
    keys = {"rank", "article", "title", "paragraph", "score", "text", "citation", "date", "url"}
    assert all(keys <= set(p) for p in passages)


def test_ask_prints_a_readable_cited_answer(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Plain output shows the passage text and its title with the paragraph number."""
    assert main(["ask", "What did Biegun say?"]) == 0
    out = capsys.readouterr().out
    assert "they will find us ready" in out and "¶7" in out


def test_unanswerable_question_says_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A question about someone the corpus never mentions is answered false."""
    assert main(["ask", "--json", "What did Biden say?"]) == 0
    (out,) = _json_lines(capsys.readouterr().out)
    assert out["answered"] is False and out["passages"] == []


def test_stdin_mode_answers_each_line_in_order(env: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`ask --json -` prints one JSON object per input line, in order."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("What did Biegun say?\nWhat did Pompeo say?\n"))
    assert main(["ask", "--json", "-"]) == 0
    out = _json_lines(capsys.readouterr().out)
    assert [o["question"] for o in out] == ["What did Biegun say?", "What did Pompeo say?"]


def test_top_k_option_limits_the_passages(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--top-k 1 cites one passage."""
    assert main(["ask", "--json", "--top-k", "1", "north korea talks"]) == 0
    assert len(_json_lines(capsys.readouterr().out)[0]["passages"]) == 1  # type: ignore[arg-type]


def test_every_question_is_logged_with_surface_cli(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asked questions appear in `askbot log --json`, newest first."""
    main(["ask", "--json", "What did Biegun say?"])
    main(["ask", "--json", "What did Biden say?"])
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert [(r["question"], r["answered"], r["surface"]) for r in rows] == [
        ("What did Biden say?", False, "cli"), ("What did Biegun say?", True, "cli"),
    ]  # fmt: skip


def test_empty_question_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty question exits 2 with a message on stderr."""
    assert main(["ask", "  "]) == 2
    assert "question is empty" in capsys.readouterr().err


def test_stopword_only_question_exits_2_with_a_message(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A question with nothing to search for is explained and logged."""
    assert main(["ask", "what is the"]) == 2
    assert "no words to search for" in capsys.readouterr().out
    main(["log", "--json"])
    assert _json_lines(capsys.readouterr().out)[0]["question"] == "what is the"


def test_very_long_question_is_answered(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 10,000-character question does not crash and is logged whole."""
    question = ("Biegun " * 1500)[:10_000]
    assert main(["ask", "--json", question]) == 0
    capsys.readouterr()
    main(["log", "--json"])
    assert _json_lines(capsys.readouterr().out)[0]["question"] == question


def test_missing_corpus_folder_exits_2(
    env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A corpus folder that does not exist is a usage error naming it."""
    assert main(["ask", "--corpus", str(tmp_path / "nope"), "x"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_empty_corpus_exits_2_with_advice(
    env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A corpus with no readable articles says so."""
    (tmp_path / "empty").mkdir()
    assert main(["ask", "--corpus", str(tmp_path / "empty"), "x"]) == 2
    assert "no readable articles" in capsys.readouterr().err


def test_index_reports_skipped_files_and_keeps_good_ones(env: Path, corpus_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A non-UTF-8, a binary, an empty file and a 5 MB paragraph: good files still indexed."""
    write(corpus_dir / "bad" / "latin1.txt", "T\n\n\xe9t\xe9".encode("latin-1"))
    write(corpus_dir / "bad" / "bin.txt", b"\x89PNG\x00\x00")
    write(corpus_dir / "bad" / "empty.txt", "")
    write(corpus_dir / "huge.txt", "Huge\n\n" + "lorem ipsum dolor. " * 280_000)
    assert main(["index", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["articles"] == 26
    assert {s["path"] for s in summary["skipped"]} == {
        "bad/latin1.txt",
        "bad/bin.txt",
        "bad/empty.txt",
    }


def test_sources_lists_every_article(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sources --json` has one line per article."""
    assert main(["sources", "--json"]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 25


def test_config_masks_the_token(env: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`config` never prints the token."""
    monkeypatch.setenv("DISCORD_TOKEN", "super-secret-token")
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    assert "super-secret-token" not in out and json.loads(out)["DISCORD_TOKEN"] == "********"


def test_invalid_setting_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A malformed environment value names the variable."""
    monkeypatch.setenv("ASKBOT_TOP_K", "many")
    assert main(["config"]) == 2
    assert "ASKBOT_TOP_K" in capsys.readouterr().err


def test_health_is_ok_with_a_good_corpus_and_writable_db(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`health` exits 0 when the index loads and the log is writable."""
    assert main(["health"]) == 0


def test_health_fails_on_a_corrupt_database(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`health` exits 1 and names the database when it is corrupt."""
    write(env / "askbot.db", b"garbage" * 1000)
    assert main(["health"]) == 1
    assert "askbot.db" in capsys.readouterr().err


def test_forget_deletes_a_users_rows(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`forget USER_ID` reports how many rows went (none for an unknown user)."""
    assert main(["forget", "42"]) == 0
    assert "Deleted 0 logged queries of user 42" in capsys.readouterr().out


def test_init_creates_a_corpus_and_env(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`init DIR` writes an example article and a .env that askbot can use."""
    assert main(["init", str(tmp_path / "newsroom")]) == 0
    assert (tmp_path / "newsroom" / "corpus" / "example.md").is_file()
    assert "ASKBOT_CORPUS_DIR=" in (tmp_path / "newsroom" / ".env").read_text()


def test_every_command_has_help_with_examples() -> None:
    """`askbot COMMAND --help` exits 0 and shows examples."""
    for command in (
        "ask",
        "index",
        "sources",
        "log",
        "stats",
        "config",
        "health",
        "init",
        "forget",
        "run",
    ):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0


def test_python_dash_m_askbot_prints_the_version() -> None:
    """`python -m askbot --version` works as a process."""
    result = subprocess.run([sys.executable, "-m", "askbot", "--version"], capture_output=True,
                            text=True, cwd=REPO, check=False)  # fmt: skip
    assert result.returncode == 0 and result.stdout.startswith("askbot ")


def test_eval_prints_figures_for_askbot_and_the_baseline(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`eval --json --baseline` prints one object per engine with hit@1 and MRR."""
    questions = write(
        tmp_path / "q.jsonl", json.dumps({"question": "What did Biegun say?", "article": SEED_ID})
    )
    assert main(["eval", "--json", "--baseline", str(questions)]) == 0
    engines = _json_lines(capsys.readouterr().out)
    assert [e["engine"] for e in engines] == ["askbot", "rank-bm25 (whitespace)"]
    assert engines[0]["hit@1"] == 1.0


def test_eval_of_a_malformed_file_is_a_usage_error(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line that is not JSON exits 2 naming the line."""
    questions = write(tmp_path / "q.jsonl", "not json\n")
    assert main(["eval", str(questions)]) == 2
    assert "line 1" in capsys.readouterr().err


def test_source_option_restricts_the_answer(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--source wikinews keeps only Wikinews passages."""
    assert main(["ask", "--json", "--source", "wikinews", "--top-k", "5", "North Korea"]) == 0
    (out,) = _json_lines(capsys.readouterr().out)
    assert out["passages"] and all(p["source"] == "Wikinews" for p in out["passages"])  # type: ignore[index,union-attr]


def test_filter_in_the_question_restricts_by_date(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """before:2010 leaves only articles dated before 2010."""
    assert main(["ask", "--json", "--top-k", "5", "stampede killed before:2010"]) == 0
    (out,) = _json_lines(capsys.readouterr().out)
    dates = [p["date"] for p in out["passages"]]  # type: ignore[index,union-attr]
    assert dates and all(d < "2010" for d in dates)


def test_malformed_date_filter_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """after:yesterday exits 2 and says how to write a date."""
    assert main(["ask", "talks after:yesterday"]) == 2
    assert "after:2020-06-01" in capsys.readouterr().err


def test_index_on_a_terminal_shows_a_progress_bar(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a terminal, `index` draws its progress bar and still succeeds."""
    from rich.console import Console

    import askbot.cli as cli

    screen = io.StringIO()
    monkeypatch.setattr(
        cli, "_stderr", lambda: Console(file=screen, force_terminal=True, width=100)
    )
    assert main(["index"]) == 0
    assert "Indexing" in screen.getvalue() and "passages" in screen.getvalue()


def _index_folder(capsys: pytest.CaptureFixture[str], *args: str) -> Path:
    assert main(["index", "--json", *args]) == 0
    return Path(str(json.loads(capsys.readouterr().out)["index"]))


def test_index_full_rebuilds_an_index_that_is_already_saved(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`index` keeps a saved index of an unchanged corpus; `index --full` builds it again."""
    saved = _index_folder(capsys) / "meta.json"
    first = saved.stat().st_ino
    assert (_index_folder(capsys) / "meta.json").stat().st_ino == first
    assert (_index_folder(capsys, "--full") / "meta.json").stat().st_ino != first


def test_index_progress_bar_shows_passages_per_second(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the bar shows the passage count and a rate like "1,234/s"."""
    import re

    from rich.console import Console

    import askbot.cli as cli

    screen = io.StringIO()
    monkeypatch.setattr(
        cli, "_stderr", lambda: Console(file=screen, force_terminal=True, width=120)
    )
    assert main(["index"]) == 0
    assert re.search(r"[\d,]+ passages\s+[\d,]+/s", screen.getvalue())
