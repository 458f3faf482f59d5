"""A library filled by ``kettrack run --offline``, shared by the writers' tools tests.

The offline run (saved queries in ``queries/`` against the bundled snapshot)
is made once per test process, through Typer's CliRunner as a user would, and
each test gets its own copy of the database file at its ``KETTRACK_DB``.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kettrack.cli import app

from .conftest import ROOT

runner = CliRunner()


@lru_cache(maxsize=1)
def _offline_db() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kettrack-writers-"))
    atexit.register(shutil.rmtree, folder, True)
    db = folder / "offline.db"
    env = {"KETTRACK_DB": str(db), "KETTRACK_QUERIES": str(ROOT / "queries"),
           "KETTRACK_BACKOFF": "0", "NCBI_API_KEY": None, "NCBI_EMAIL": None,
           "KETTRACK_SNAPSHOT_DIR": None, "KETTRACK_EUTILS_URL": None,
           "KETTRACK_CTGOV_URL": None, "KETTRACK_BATCH_SIZE": None, "KETTRACK_RATE_LIMIT": None}
    result = runner.invoke(app, ["run", "--offline", "--json"], env=env,  # type: ignore[arg-type]
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new_total"] > 20
    return db


def copy_offline_library(target: Path) -> Path:
    """Put a copy of the offline library at ``target`` (the test's KETTRACK_DB)."""
    shutil.copyfile(_offline_db(), target)
    return target


def invoke(*args: str) -> Any:
    """Run ``kettrack ARGS`` in the test's environment."""
    return runner.invoke(app, list(args), catch_exceptions=False)
