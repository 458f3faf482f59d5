"""The digest's promise, tested as a library function (no CLI): deliver, then mark;
a delivery that fails marks nothing; two digests at once report each item once."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from kettrack.digest.deliver import DigestRequest, deliver
from kettrack.errors import KettrackError
from kettrack.library.store import Library

from .writer_library import copy_offline_library


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    return copy_offline_library(kettrack_env / "library.db")


def test_printed_digest_is_marked_and_the_next_is_empty(library_db: Path) -> None:
    with Library.open(library_db) as library:
        out = io.StringIO()
        done = deliver(library, DigestRequest(format="markdown"), stdout=out)
        assert done.printed and done.marked is not None and not done.digest.is_empty
        assert out.getvalue().startswith("#")
        again = deliver(library, DigestRequest(format="markdown", quiet_if_empty=True),
                        stdout=io.StringIO())
        assert again.digest.is_empty and again.marked is None and not again.printed


def test_peek_marks_nothing(library_db: Path) -> None:
    with Library.open(library_db) as library:
        first = deliver(library, DigestRequest(format="json", peek=True), stdout=io.StringIO())
        second = deliver(library, DigestRequest(format="json", peek=True), stdout=io.StringIO())
        assert first.marked is None and first.digest.counts() == second.digest.counts()


def test_an_unwritable_output_marks_nothing(library_db: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "notes.txt"  # a file where the output's folder should be
    not_a_folder.write_text("mine\n")
    with Library.open(library_db) as library:
        request = DigestRequest(format="html", output=not_a_folder / "digest.html")
        with pytest.raises(KettrackError):
            deliver(library, request)
        retry = deliver(library, DigestRequest(format="html", peek=True), stdout=io.StringIO())
        assert not retry.digest.is_empty  # the items are still unreported
    assert not_a_folder.read_text() == "mine\n"


def test_two_digests_at_once_report_each_item_once(library_db: Path) -> None:
    results: list[list[tuple[str, str]]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def one_digest() -> None:
        try:
            with Library.open(library_db, lock_timeout=20) as library:
                start.wait()
                done = deliver(library, DigestRequest(format="text"), stdout=io.StringIO())
                results.append([e.item.key for e in done.digest.entries()])
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one_digest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    first, second = sorted(results, key=len, reverse=True)
    assert first and second == []
