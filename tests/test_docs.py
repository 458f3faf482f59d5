"""The CLI reference in docs/cli.md cannot drift from --help."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_cli_reference_matches_help() -> None:
    result = subprocess.run([sys.executable, "-m", "cogapp", "--check", "docs/cli.md"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        "docs/cli.md is out of date: run `cog -r docs/cli.md`\n" + result.stdout + result.stderr)


def test_every_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for command in ("run", "digest", "search", "check", "show", "export", "stats",
                    "queries list", "queries check", "watch add", "watch list", "watch remove",
                    "similar"):
        assert f"## `kettrack {command}`" in text
