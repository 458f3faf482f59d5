"""The CLI reference in ``docs/cli.md``, generated from ``--help`` (see cog)."""

from __future__ import annotations

import click
import typer
from typer.testing import CliRunner

from .cli import app

WIDTH = 88


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found: list[list[str]] = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        found.append([*prefix, name])
        if isinstance(command, click.Group):
            found += _commands(command, [*prefix, name])
    return found


def reference() -> str:
    """Markdown: one section per command, each its ``--help`` text."""
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    runner = CliRunner()
    parts = []
    for path in [[], *_commands(root, [])]:
        result = runner.invoke(app, [*path, "--help"], terminal_width=WIDTH,
                               env={"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"})
        title = " ".join(["kettrack", *path])
        parts.append(f"\n## `{title}`\n\n```\n{result.stdout.rstrip()}\n```\n")
    return "".join(parts)
