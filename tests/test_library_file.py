"""The library file under stress: readers never wait for writers, a read-only
library still serves every read, another program's lock and a full disk are one
line and exit 1, and nothing is ever half-written."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kettrack.errors import Failure
from kettrack.library.store import Library
from kettrack.run.runner import prepare

from .conftest import fixture_bytes
from .writer_library import copy_offline_library, invoke

READS = [("search", "ketamine"), ("stats",), ("export", "--format", "csv"),
         ("digest", "--peek"), ("queries", "list")]


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    return copy_offline_library(kettrack_env / "library.db")


@contextmanager
def writer_lock_held(db: Path) -> Iterator[None]:
    """Hold the library's writer lock, as a running ``kettrack run`` does."""
    fd = os.open(db.with_name(db.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def one_line_error(result: object, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    for word in words:
        assert word in stderr, stderr


def some_pmid(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT pmid FROM articles LIMIT 1").fetchone()[0])


@pytest.mark.parametrize("command", [
    ["stats"], ["search", "ketamine"], ["check", "ketamine cut relapse"], ["show", "31772157"],
    ["export", "--format", "csv"], ["digest", "--quiet-if-empty"], ["watch", "list"],
    ["review", "list"],
])
def test_a_read_of_a_missing_library_is_bad_input_and_creates_nothing(
        kettrack_env: Path, command: list[str]) -> None:
    # a mistyped KETTRACK_DB must not answer "nothing" (or mail nothing) from a new,
    # empty library made on the spot
    result = invoke(*command)
    missing = kettrack_env / "library.db"
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"Error: {missing}: no library here (KETTRACK_DB or "
                                     "--db); 'kettrack run' makes one")
    assert not missing.exists()


def test_a_run_still_makes_a_new_library(kettrack_env: Path) -> None:
    assert invoke("run", "--offline", "ketamine-aud").exit_code == 0
    assert invoke("stats").exit_code == 0 and (kettrack_env / "library.db").exists()


def test_reads_do_not_wait_for_a_running_writer(library_db: Path) -> None:
    pmid = some_pmid(library_db)
    with writer_lock_held(library_db):
        for args in [*READS, ("show", pmid)]:
            result = invoke(*args)
            assert result.exit_code == 0, (args, result.output)
        # a writer does wait, then says who holds the library
        one_line_error(invoke("digest"), 1, "another kettrack")


def test_a_read_only_library_serves_every_read(library_db: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A file the user cannot write (root can write anything, so the permission
    # check is what is stood in for; SQLite then opens the file read-only for real).
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK
                        else real_access(p, mode, **kw))
    before = library_db.read_bytes()
    pmid = some_pmid(library_db)
    for args in [*READS, ("show", pmid)]:
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
    one_line_error(invoke("digest"), 1, "cannot be written", "read-only commands still work")
    one_line_error(invoke("run", "--offline"), 1, "cannot be written")
    assert library_db.read_bytes() == before


def test_another_programs_write_lock_is_waited_for_then_one_line(
        library_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETTRACK_LOCK_TIMEOUT", "0.3")
    other = sqlite3.connect(library_db, isolation_level=None)  # sqlite-utils, Datasette...
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert invoke("search", "ketamine").exit_code == 0  # WAL: reads go on
        one_line_error(invoke("run", "--offline"), 1, "another program holds")
        one_line_error(invoke("digest"), 1, "another program holds")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert invoke("digest").exit_code == 0  # and it was not marked by the failed try
    assert "Nothing new" in invoke("digest").stdout


def test_a_full_disk_at_commit_fails_whole(tmp_path: Path) -> None:
    library = Library.open(tmp_path / "k.db")
    records, _ = prepare(fixture_bytes("pubmed1.xml"))
    pages = library.db.execute("PRAGMA page_count").fetchone()[0]
    library.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    with pytest.raises(Failure, match="the disk is full"):
        library.store_batch(records, {}, 0)
    library.db.execute("PRAGMA max_page_count = 1073741823")
    assert library.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
    assert library.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    run = library.start_run(offline=True)
    assert library.store_batch(records, {}, run).new  # and works once there is room


def test_output_into_a_folder_that_cannot_be_written_is_one_line(library_db: Path,
                                                                  tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine\n")
    one_line_error(invoke("export", "--format", "ris", "-o", str(blocker / "x.ris")), 2,
                   "does not exist")
    one_line_error(invoke("digest", "-o", str(blocker / "d.txt")), 2, "does not exist")
    assert blocker.read_text() == "mine\n"
    assert invoke("digest", "--peek").stdout.strip()  # nothing was marked


def test_ctrl_c_during_a_run_says_what_was_kept(kettrack_env: Path) -> None:
    """SIGINT mid-run: exit 130 with one line, the library consistent."""
    env = dict(os.environ, KETTRACK_BATCH_SIZE="2")
    proc = subprocess.Popen([sys.executable, "-c",
                             "import os, signal, threading, kettrack.run.runner as r\n"
                             "store = r.Library.store_prepared\n"
                             "def slow(self, *a, **k):\n"
                             "    out = store(self, *a, **k)\n"
                             "    os.kill(os.getpid(), signal.SIGINT)\n"
                             "    return out\n"
                             "r.Library.store_prepared = slow\n"
                             "import kettrack; kettrack.main()",
                             "run", "--offline"], env=env, cwd=kettrack_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "interrupted; what was stored is kept"
    with sqlite3.connect(kettrack_env / "library.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] >= 2
