"""Settings: environment names, id lists, defaults, and the token kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from askbot.config import Settings


def test_token_never_appears_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    """DISCORD_TOKEN is a secret: repr, str and public() mask it."""
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.secret.token")
    settings = Settings(_env_file=None)
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "MTIz.secret.token"
    for text in (repr(settings), str(settings), str(settings.public())):
        assert "MTIz.secret.token" not in text


def test_id_lists_accept_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """ASKBOT_GUILD_IDS="1, 2 3" gives [1, 2, 3]."""
    monkeypatch.setenv("ASKBOT_GUILD_IDS", "1, 2 3")
    assert Settings(_env_file=None).guild_ids == [1, 2, 3]


def test_unset_id_lists_are_empty_and_never_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The [] default is a fresh list in every Settings: appending to one leaves the next empty."""
    for name in ("GUILD_IDS", "ADMIN_ROLE_IDS", "ADMIN_USER_IDS", "ASK_CHANNEL_IDS"):
        monkeypatch.delenv(f"ASKBOT_{name}", raising=False)
    first = Settings(_env_file=None)
    first.guild_ids.append(1)
    first.ask_channel_ids.append(2)
    again = Settings(_env_file=None)
    lists = [again.guild_ids, again.admin_role_ids, again.admin_user_ids, again.ask_channel_ids]
    assert lists == [[], [], [], []]


def test_malformed_id_list_names_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-numeric id is rejected with the value quoted."""
    monkeypatch.setenv("ASKBOT_ADMIN_ROLE_IDS", "12,abc")
    with pytest.raises(ValidationError, match="abc"):
        Settings(_env_file=None)


def test_empty_values_from_a_copied_env_example_mean_defaults(tmp_path: Path) -> None:
    """`ASKBOT_DB_PATH=` in .env leaves the default database path."""
    env = tmp_path / ".env"
    env.write_text("ASKBOT_DB_PATH=\nASKBOT_GUILD_IDS=\nDISCORD_TOKEN=\n")
    settings = Settings(_env_file=env)
    assert settings.database == Path(".askbot") / "askbot.db"
    assert settings.guild_ids == [] and settings.discord_token is None


def test_default_data_folder_moves_out_of_the_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from inside the corpus folder, the index and log go to the user's cache instead."""
    corpus = tmp_path / "news"
    corpus.mkdir()
    monkeypatch.chdir(corpus)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ASKBOT_DATA_DIR", raising=False)
    settings = Settings(_env_file=None, corpus_dir=Path("."))
    assert settings.indexes == tmp_path / "cache" / "askbot" / "index"
    assert settings.database == tmp_path / "cache" / "askbot" / "askbot.db"


def test_explicit_data_folder_is_used_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASKBOT_DATA_DIR set by the user is never moved."""
    monkeypatch.setenv("ASKBOT_DATA_DIR", str(tmp_path / "state"))
    assert Settings(_env_file=None).indexes == tmp_path / "state" / "index"
