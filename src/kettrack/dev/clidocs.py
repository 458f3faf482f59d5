"""The CLI reference in ``docs/cli.md``, generated from ``--help`` (see cog)."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from kettrack.cli import app

WIDTH = 88


def _commands(group: Any, prefix: list[str]) -> list[list[str]]:
    """Every command path below ``group`` (Typer bundles its own click, so this
    goes by the group's methods rather than click's classes)."""
    found: list[list[str]] = []
    context = group.make_context("kettrack", [], resilient_parsing=True)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        found.append([*prefix, name])
        if hasattr(command, "list_commands"):
            found += _commands(command, [*prefix, name])
    return found


def reference() -> str:
    """Markdown: one section per command, each its ``--help`` text."""
    root = typer.main.get_command(app)
    runner = CliRunner()
    parts = []
    for path in [[], *_commands(root, [])]:
        result = runner.invoke(app, [*path, "--help"], prog_name="kettrack", terminal_width=WIDTH,
                               env={"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"})
        title = " ".join(["kettrack", *path])
        parts.append(f"\n## `{title}`\n\n```\n{result.stdout.rstrip()}\n```\n")
    return "".join(parts)
