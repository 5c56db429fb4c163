"""What a one-shot `askbot ask` process imports: only what answering needs (issue 4's 0.5 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUNDLED_CORPUS, REPO

# Never needed to answer from a saved index: the bot, the build (its modules, forked workers and
# sparse matrices), the async log, the evaluation baseline. `ask --json` also never needs rich.
NEVER_FOR_ASK = ("discord", "scipy", "aiosqlite", "rank_bm25", "askbot.bot", "askbot.service",
                 "askbot.storage.querylog", "askbot.search.evaluate", "askbot.search.build",
                 "askbot.search.incremental", "askbot.search.tokenize_parallel",
                 "multiprocessing")  # fmt: skip


def _run(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m askbot ARGS`; the process and the modules it imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "askbot", *args],
                            capture_output=True, text=True, env=env, cwd=REPO, check=False)  # fmt: skip
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result, imported


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an `ask` process whose index is already saved (built once here)."""
    root = tmp_path_factory.mktemp("startup")
    shutil.copytree(BUNDLED_CORPUS, root / "corpus")
    environ = {**os.environ, "ASKBOT_CORPUS_DIR": str(root / "corpus"),
               "ASKBOT_DATA_DIR": str(root / "data")}  # fmt: skip
    environ.pop("DISCORD_TOKEN", None)
    built = subprocess.run([sys.executable, "-m", "askbot", "index", "--json"], env=environ,
                           cwd=REPO, capture_output=True, text=True, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return environ


def _loaded(imported: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imported if any(m == n or m.startswith(n + ".") for n in names))


def test_ask_json_imports_no_bot_scipy_async_log_or_rich(env: dict[str, str]) -> None:
    """`askbot ask --json` answers and logs without importing discord, scipy, aiosqlite or rich."""
    result, imported = _run(["ask", "--json", "What did Biegun say?"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["answered"] is True
    assert "askbot.search.answer" in imported  # the check sees the modules that did load
    assert _loaded(imported, (*NEVER_FOR_ASK, "rich")) == []


def test_ask_with_plain_settings_imports_no_pydantic(env: dict[str, str]) -> None:
    """Plain settings (paths, numbers) are read without pydantic: ~0.23 s of every `ask`."""
    env = {**env, "ASKBOT_TOP_K": "2", "ASKBOT_BM25_B": "0.75", "DISCORD_TOKEN": "x.y.z"}
    result, imported = _run(["ask", "--json", "What did Biegun say?"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(json.loads(result.stdout)["passages"]) == 2
    assert _loaded(imported, ("pydantic", "pydantic_settings", "pydantic_core")) == []


def test_ask_with_an_invalid_setting_names_it(env: dict[str, str]) -> None:
    """A value the plain reader leaves alone goes through Settings and its message."""
    result, _ = _run(["ask", "--json", "What did Biegun say?"], {**env, "ASKBOT_TOP_K": "50"})
    assert result.returncode == 2
    assert "ASKBOT_TOP_K" in result.stderr and "less than or equal to 20" in result.stderr


def test_plain_ask_imports_rich_but_no_bot_scipy_or_async_log(env: dict[str, str]) -> None:
    """The terminal answer needs rich; it still needs no discord, scipy or aiosqlite."""
    result, imported = _run(["ask", "What did Biegun say?"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "they will find us ready" in result.stdout
    assert "rich.console" in imported
    assert _loaded(imported, NEVER_FOR_ASK) == []


def test_ask_logs_its_query_through_plain_sqlite(env: dict[str, str], tmp_path: Path) -> None:
    """The one-shot process still logs the question, readable by `askbot log`."""
    env = {**env, "ASKBOT_DB_PATH": str(tmp_path / "q.db")}
    result, _ = _run(["ask", "--json", "What did Biegun say?"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    log = subprocess.run([sys.executable, "-m", "askbot", "log", "--json"], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True)  # fmt: skip
    (row,) = [json.loads(line) for line in log.stdout.splitlines()]
    assert (row["question"], row["surface"]) == ("What did Biegun say?", "cli")
    assert row["id"] == json.loads(result.stdout)["query_id"]


def test_config_and_log_import_no_numpy(env: dict[str, str]) -> None:
    """Commands that never search (config, log) do not load the search core's numpy."""
    for command in (["config", "--json"], ["log", "--json"]):
        result, imported = _run(command, env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert _loaded(imported, ("numpy", "askbot.search.index")) == [], command


def _openblas_threads_seen_by_main(tmp_path: Path, **env: str) -> str:
    code = ("import os, sys; from askbot.cli import main; main(['config', '--json']); "
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), file=sys.stderr)")  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | env
    return _program(code, tmp_path, environ)


def test_the_command_runs_openblas_on_one_thread(tmp_path: Path) -> None:
    """main() asks numpy's OpenBLAS for one thread (its idle pool slows a short command)."""
    assert _openblas_threads_seen_by_main(tmp_path) == "1"


def test_an_openblas_thread_count_the_user_set_is_kept(tmp_path: Path) -> None:
    """OPENBLAS_NUM_THREADS from the environment wins."""
    assert _openblas_threads_seen_by_main(tmp_path, OPENBLAS_NUM_THREADS="2") == "2"


def test_the_program_freezes_the_heap_before_exiting(tmp_path: Path) -> None:
    """main() without argv (the program) leaves the exit to the OS, not the cycle collector."""
    code = ("import gc, sys; from askbot.cli import main; sys.argv = ['askbot', 'config']; "
            "main(); print(gc.get_freeze_count() > 0, file=sys.stderr)")  # fmt: skip
    assert _program(code, tmp_path) == "True"


def test_main_called_with_arguments_leaves_the_heap_alone(tmp_path: Path) -> None:
    """Tests and embedders calling main([...]) keep a normal collector."""
    code = ("import gc, sys; from askbot.cli import main; main(['config']); "
            "print(gc.get_freeze_count(), file=sys.stderr)")  # fmt: skip
    assert _program(code, tmp_path) == "0"


def _program(code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """The last stderr line of `python -c CODE` (code that runs askbot's main() as the program)."""
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    return result.stderr.strip().splitlines()[-1]


def test_ask_json_never_runs_asyncio(env: dict[str, str]) -> None:
    """pydantic-settings imports asyncio; askbot.config defers it, and `ask --json` never uses it."""
    result, imported = _run(["ask", "--json", "What did Biegun say?"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _loaded(imported, ("asyncio", "ssl", "concurrent")) == []


def test_settings_import_no_asyncio_and_leave_the_real_one_to_importers(tmp_path: Path) -> None:
    """askbot.config imports pydantic-settings without asyncio; `import asyncio` is the real one,
    and pydantic-settings' own name for it reaches the same functions."""
    code = ("import sys, askbot.config, pydantic_settings.main as ps; "
            "print('asyncio' in sys.modules, file=sys.stderr); import asyncio\n"
            "async def two(): await asyncio.sleep(0); return 2\n"
            "print(asyncio.run(two()), 'asyncio.base_events' in sys.modules, "
            "ps.asyncio.run is asyncio.run, file=sys.stderr)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert result.stderr.split() == ["False", "2", "True", "True"]


def test_the_stand_in_used_during_the_import_gives_the_real_asyncio(tmp_path: Path) -> None:
    """Were pydantic-settings to use asyncio while it is imported, the stand-in would import
    the real module (not find itself in sys.modules and recurse)."""
    code = ("import sys; from askbot.config import _AsyncioOnFirstUse as S; "
            "stub = sys.modules['asyncio'] = S('asyncio'); run = stub.run; import asyncio; "
            "print(run is asyncio.run, sys.modules['asyncio'] is asyncio is not stub, "
            "file=sys.stderr)")  # fmt: skip
    assert _program(code, tmp_path) == "True True"


def test_an_asyncio_already_imported_is_left_alone(tmp_path: Path) -> None:
    """Imported after asyncio (the bot, the tests), config changes nothing about it."""
    code = ("import sys, asyncio; before = asyncio; import askbot.config, pydantic_settings.main; "
            "print(sys.modules['asyncio'] is before is pydantic_settings.main.asyncio, "
            "file=sys.stderr)")  # fmt: skip
    assert _program(code, tmp_path) == "True"


def test_the_program_pauses_the_collector_only_during_startup(tmp_path: Path) -> None:
    """Imports and settings run without cycle collections; the collector is on again after."""
    code = ("import gc, sys; from askbot.cli import main; sys.argv = ['askbot', 'config', '--json']\n"
            "def done(): return sum(s['collections'] for s in gc.get_stats())\n"
            "before = done(); main(); print(done() - before, gc.isenabled(), file=sys.stderr)")  # fmt: skip
    collections, enabled = _program(code, tmp_path).split()
    # Without the pause, importing pydantic and building Settings collects ~60 times.
    assert (int(collections), enabled) == (0, "True")


def test_ask_collects_again_once_the_index_is_open(env: dict[str, str], tmp_path: Path) -> None:
    """`ask` (which may read many questions from stdin) ends with the collector on."""
    code = ("import gc, sys; from askbot.cli import main; "
            "sys.argv = ['askbot', 'ask', '--json', 'What did Biegun say?']; main(); "
            "print(gc.isenabled(), file=sys.stderr)")  # fmt: skip
    assert _program(code, REPO, env) == "True"


def test_a_collector_the_embedder_disabled_stays_disabled(tmp_path: Path) -> None:
    """The program turns the collector back on only if it was on."""
    code = ("import gc, sys; gc.disable(); from askbot.cli import main; "
            "sys.argv = ['askbot', 'config']; main(); print(gc.isenabled(), file=sys.stderr)")  # fmt: skip
    assert _program(code, tmp_path) == "False"
