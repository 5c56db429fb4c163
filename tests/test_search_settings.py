"""The pydantic-free reader of `ask`'s settings agrees with Settings whenever it answers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from unittest import mock

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from askbot.config import Settings
from askbot.search_settings import (
    FLOATS,
    ID_LISTS,
    INTS,
    OPTIONAL_PATHS,
    PATHS,
    TEXTS,
    read_search_settings,
)

REPO = Path(__file__).resolve().parents[1]


def _bounds(name: str) -> tuple[object, object]:
    least = most = None
    for item in Settings.model_fields[name].metadata:
        if isinstance(item, annotated_types.Ge):
            least = item.ge
        if isinstance(item, annotated_types.Le):
            most = item.le
    return least, most


def test_every_setting_has_its_default_and_bounds_in_the_reader() -> None:
    """The reader's tables name every field of Settings once, with Settings' default and bounds."""
    fields = Settings.model_fields
    tabled = [*PATHS, *OPTIONAL_PATHS, *INTS, *FLOATS, *ID_LISTS, *TEXTS, "discord_token"]
    assert sorted(tabled) == sorted(fields)
    for name, default in PATHS.items():
        assert fields[name].default == default
    for name in OPTIONAL_PATHS:
        assert fields[name].default is None
    for table in (INTS, FLOATS):
        for name, (default, least, most) in table.items():
            assert (fields[name].default, *_bounds(name)) == (default, least, most), name


def test_reader_without_environment_gives_the_defaults(tmp_path: Path) -> None:
    """No variables and no .env: Settings' defaults, with the data folder not given."""
    quick = read_search_settings({}, environ={}, env_file=tmp_path / ".env")
    with mock.patch.dict(os.environ, {}, clear=True):
        assert quick == Settings(_env_file=None).search()


def test_reader_takes_a_copied_env_example(tmp_path: Path) -> None:
    """The shipped .env.example, copied as it is, is plain: `ask` reads it without pydantic."""
    env_file = tmp_path / ".env"
    env_file.write_text((REPO / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    quick = read_search_settings({}, environ={}, env_file=env_file)
    assert quick is not None
    with mock.patch.dict(os.environ, {}, clear=True):
        assert quick == Settings(_env_file=env_file).search()


def test_environment_wins_over_env_file_and_options_over_both(tmp_path: Path) -> None:
    """Command line, then environment, then .env: as Settings orders them."""
    env_file = tmp_path / ".env"
    env_file.write_text("ASKBOT_TOP_K=4\nASKBOT_CORPUS_DIR=from-file\nASKBOT_BM25_B=0.5\n")
    environ = {"askbot_corpus_dir": "from-env", "ASKBOT_BM25_B": "0.25"}
    quick = read_search_settings({"corpus_dir": "from-option"}, environ, env_file)
    assert quick is not None
    assert (quick.corpus_dir, quick.top_k, quick.bm25_b) == (Path("from-option"), 4, 0.25)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ASKBOT_TOP_K", "0"), ("ASKBOT_TOP_K", "21"), ("ASKBOT_BM25_B", "1.5"),
     ("ASKBOT_TOP_K", "three"), ("ASKBOT_GUILD_IDS", "12,abc"), ("ASKBOT_MIN_COVERAGE", "-0.1")],
)  # fmt: skip
def test_reader_leaves_invalid_values_to_settings(tmp_path: Path, name: str, value: str) -> None:
    """A value Settings rejects is never read here: Settings reports it (ask's usage error)."""
    assert read_search_settings({}, {name: value}, tmp_path / ".env") is None
    with mock.patch.dict(os.environ, {name: value}, clear=True), pytest.raises(ValidationError):
        Settings(_env_file=None)


# -- any environment and .env: the reader answers only where Settings agrees ----------------

_NAMES = [f"ASKBOT_{n.upper()}" for n in (*PATHS, *OPTIONAL_PATHS, *INTS, *FLOATS, *ID_LISTS,
                                          *TEXTS)] + ["DISCORD_TOKEN", "ASKBOT_TYPO", "OTHER"]  # fmt: skip
_VALUES = ["", "0", "1", "3", "03", "+3", " 3", "3 ", "-1", "20", "21", "64", "1_0", "1e1", "1.",
           ".5", "0.5", "0.75", "1.0", "1.5", "2.25", "nan", "inf", "١٢", "999999999",
           "1234567890123", "1,2 3", "1;2", "12,abc", "x/y", "./news dir", "ñews", "${HOME}",
           "'quoted'", "a#b"]  # fmt: skip


def _cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.capitalize()])


_pairs = st.lists(
    st.tuples(st.sampled_from(_NAMES).flatmap(_cased), st.sampled_from(_VALUES)), max_size=6
)
_line = st.one_of(
    st.tuples(st.sampled_from(_NAMES).flatmap(_cased), st.sampled_from(_VALUES)).map(
        lambda kv: f"{kv[0]}={kv[1]}"
    ),
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(_VALUES)).map(
        lambda kv: f'export {kv[0]}="{kv[1]}"'
    ),
    st.sampled_from(["# a comment", "", "ASKBOT_TOP_K", "ASKBOT_TOP_K = 5  # five", "=x"]),
)
_overrides = st.fixed_dictionaries(
    {},
    optional={"corpus_dir": st.sampled_from(["c", "./x"]), "top_k": st.integers(1, 20),
              "db_path": st.just("q.db"), "data_dir": st.just("d"), "index_dir": st.just("i")},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(environ=_pairs, lines=st.lists(_line, max_size=6), overrides=_overrides)
def test_reader_agrees_with_settings_whenever_it_answers(
    environ: list[tuple[str, str]], lines: list[str], overrides: dict[str, object]
) -> None:
    """For any environment, .env and options: None, or exactly Settings' search settings."""
    env = dict(environ)
    with tempfile.TemporaryDirectory() as folder:
        env_file = Path(folder) / ".env"
        env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with mock.patch.dict(os.environ, env, clear=True):
            quick = read_search_settings(overrides, env, env_file)
            if quick is None:
                return
            assert Settings(_env_file=env_file, **overrides).search() == quick  # type: ignore[arg-type]


def test_reader_agrees_with_settings_on_every_single_variable(tmp_path: Path) -> None:
    """Each setting alone, with each value of the list: None, or exactly Settings' reading."""
    answered = 0
    for name in _NAMES:
        for value in _VALUES:
            env = {name: value}
            quick = read_search_settings({}, env, tmp_path / ".env")
            if quick is None:
                continue
            answered += 1
            with mock.patch.dict(os.environ, env, clear=True):
                assert Settings(_env_file=None).search() == quick, env
    assert answered > len(_NAMES) * 10  # the plain values are read here, not left to Settings


def test_unparsable_env_file_line_is_left_to_settings_and_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """python-dotenv's warning about a bad line comes from Settings' reading alone."""
    env_file = tmp_path / ".env"
    env_file.write_text("ASKBOT_TOP_K=4\n=oops\n")
    assert read_search_settings({}, {}, env_file) is None
    assert not caplog.records
    with mock.patch.dict(os.environ, {}, clear=True):
        assert Settings(_env_file=env_file).top_k == 4
    assert [r.name for r in caplog.records] == ["dotenv.main"]


def test_other_variables_differing_only_in_case_do_not_matter(tmp_path: Path) -> None:
    """http_proxy and HTTP_PROXY side by side (common) leave the reader answering."""
    environ = {"http_proxy": "a", "HTTP_PROXY": "b", "ASKBOT_TOP_K": "5"}
    quick = read_search_settings({}, environ, tmp_path / ".env")
    assert quick is not None and quick.top_k == 5


def test_askbot_variables_differing_only_in_case_are_left_to_settings(tmp_path: Path) -> None:
    """ASKBOT_TOP_K and askbot_top_k both set: which wins is pydantic-settings' business."""
    environ = {"ASKBOT_TOP_K": "5", "askbot_top_k": "6"}
    assert read_search_settings({}, environ, tmp_path / ".env") is None
