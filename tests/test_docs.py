"""The README is the manual: it must show the two set-up commands and document every command."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from mlconnector.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    """Every command path, e.g. "sync", "credentials set", "mappings link"."""
    root = typer.main.get_command(app)
    paths = []
    for name, command in root.commands.items():
        subcommands = getattr(command, "commands", None)
        if subcommands:
            paths.extend(f"{name} {sub}" for sub in subcommands)
        else:
            paths.append(name)
    return sorted(paths)


def _code_blocks() -> list[str]:
    return re.findall(r"```(?:sh|bat|cron)?\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_setup_commands():
    setup = README.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", setup, flags=re.S)
    assert len(blocks) == 2, "exactly two set-up commands"
    demo, tests = (b.strip() for b in blocks)
    assert demo.endswith("mlconnector demo") and "pip install" in demo
    assert "pytest" in tests and "pip install" in tests and "[test]" in tests


def test_ci_runs_the_readme_test_command():
    setup = README.split("## Set-up on a fresh machine", 1)[1]
    test_command = re.findall(r"```sh\n(.*?)```", setup, flags=re.S)[1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f'TEST_COMMAND="{test_command}"' in ci


def test_every_command_is_documented():
    missing = [c for c in _commands() if f"mlconnector {c.split()[0]}" not in README
               or (" " in c and c.split()[1] not in README)]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_command_has_help_text():
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert (command.help or "").strip(), name
        for sub_name, sub in (getattr(command, "commands", None) or {}).items():
            assert (sub.help or "").strip(), f"{name} {sub_name}"


def test_every_exit_code_is_documented():
    from mlconnector.errors import ExitCode

    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \|", table, flags=re.M), code


def test_readme_commands_name_real_commands():
    known = {c.split()[0] for c in _commands()}
    for block in _code_blocks():
        for used in re.findall(r"(?<!\")mlconnector(?:\.exe)?(?: -c \S+)? ([a-z]+)", block):
            assert used in known, f"README uses unknown command {used!r}"


def test_every_config_key_in_the_readme_exists_in_the_example():
    example = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    for key in re.findall(r"`systems\.<name>\.([a-z_]+)`", README):
        assert re.search(rf"^\s+{key}:", example, flags=re.M), key
