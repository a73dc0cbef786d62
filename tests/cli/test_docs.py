"""docs/operator.md describes the command that exists: each command and option of its synopsis is there."""

from __future__ import annotations

import re
from pathlib import Path

import click

from beluga_core.cli import cli
from beluga_core.ui._shapes import SUMMARY_KEYS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "operator.md").read_text()


def _options(command: click.Command) -> set[str]:
    return {name for param in command.params for name in getattr(param, "opts", [])}


def test_the_synopsis_matches_the_commands_and_their_options() -> None:
    synopsis = re.search(r"```\n(beluga \[.*?)```", DOC, re.S)
    assert synopsis is not None
    lines = synopsis.group(1).splitlines()
    assert set(re.findall(r"--[a-z-]+", lines[0])) <= _options(cli)
    assert isinstance(cli, click.Group)
    documented = {}
    for line in lines[1:]:
        name, _, rest = line.strip().partition(" ")
        usage = re.split(r"\s{2,}", rest.strip())[0]  # the options, before the description
        documented[name] = set(re.findall(r"--[a-z-]+", usage))
    assert set(documented) == set(cli.commands)
    assert documented["list"] == {"--status", "--type", "--limit", "--json"}
    for name, options in documented.items():
        command = cli.commands[name]
        assert options - {"--workflows"} <= _options(command), name
    assert "--workflows" in _options(cli.commands["replay"]) | _options(cli)


def test_the_documented_json_keys_are_the_ones_printed() -> None:
    example = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert example is not None
    keys = re.findall(r'^  "([a-z_]+)":', example.group(1), re.M)
    assert keys == [*SUMMARY_KEYS, "history"]
