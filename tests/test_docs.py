"""The generated references cannot drift: docs/cli.md from --help, docs/json.md
from the JSON shapes (tests/test_json_shapes.py checks the shapes against what
is printed), docs/schema.md from the migrations."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.parametrize("page", ["docs/cli.md", "docs/json.md", "docs/schema.md"])
def test_generated_reference_is_up_to_date(page: str) -> None:
    result = subprocess.run([sys.executable, "-m", "cogapp", "--check", page],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{page} is out of date: run `cog -r {page}`\n" + result.stdout + result.stderr)


def test_every_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for command in ("run", "digest", "search", "check", "show", "export", "stats",
                    "queries list", "queries check", "watch add", "watch list", "watch remove",
                    "similar"):
        assert f"## `kettrack {command}`" in text
