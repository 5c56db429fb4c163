"""The shipped artefacts agree with the package: Dockerfile commands, entry points, README, CI."""

from __future__ import annotations

import json
import re
import tomllib

from conftest import REPO

from askbot.cli import build_parser


def _docker_json_commands(instruction: str) -> list[list[str]]:
    text = (REPO / "Dockerfile").read_text()
    return [json.loads(m) for m in re.findall(rf"^{instruction}\b[^\[\n]*(\[.*\])", text, re.M)]


def _subcommands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices or {})


def test_console_script_points_at_cli_main() -> None:
    """pyproject's `askbot` script is askbot.cli:main."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["askbot"] == "askbot.cli:main"


def test_docker_cmd_and_healthcheck_are_askbot_commands() -> None:
    """CMD runs `askbot run` and HEALTHCHECK runs `askbot health`, both real subcommands."""
    (cmd,) = _docker_json_commands("CMD")
    assert cmd == ["askbot", "run"]
    (health,) = _docker_json_commands("HEALTHCHECK")
    assert health == ["askbot", "health"]
    assert {"run", "health"} <= _subcommands()


def test_docker_copies_only_paths_that_exist() -> None:
    """Every COPY source in the Dockerfile (other than stage copies) exists in the repository."""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            *sources, _dest = [w for w in line.split()[1:] if not w.startswith("--")]
            assert all((REPO / s).exists() for s in sources), line


def test_docker_runs_as_a_non_root_user() -> None:
    """The runtime stage switches to a numeric non-root user."""
    users = re.findall(r"^USER\s+(\S+)", (REPO / "Dockerfile").read_text(), re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")


def test_readme_quickstart_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    """The Quickstart sh block holds two commands; .ci/run runs the test one verbatim."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert 'askbot ask "What did Biegun say?"' in commands[0]
    assert commands[1] in (REPO / ".ci" / "run").read_text()


def test_env_example_documents_every_setting() -> None:
    """Each setting's environment name appears in .env.example with a comment above it."""
    from askbot.config import Settings

    example = (REPO / ".env.example").read_text()
    for name in Settings.model_fields:
        env = "DISCORD_TOKEN" if name == "discord_token" else f"ASKBOT_{name.upper()}"
        assert re.search(rf"^{env}=", example, re.M), env


def test_env_file_is_git_ignored() -> None:
    """.env (which holds the token) is never committed."""
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_readme_configuration_table_lists_every_setting() -> None:
    """Each setting has a row in the README's configuration table."""
    from askbot.config import Settings

    readme = (REPO / "README.md").read_text()
    for name in Settings.model_fields:
        env = "DISCORD_TOKEN" if name == "discord_token" else f"ASKBOT_{name.upper()}"
        assert f"| `{env}` |" in readme, env
