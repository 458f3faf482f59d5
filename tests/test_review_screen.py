"""The interactive screen: its key-handling core, and the real thing in tmux."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kettrack.library.article import AbstractSection, Article
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.review.model import current
from kettrack.review.queue import Screening
from kettrack.review.screen import BACKSPACE, ENTER, ESC, ScreenSession

from .writer_library import copy_offline_library, invoke


def library_with(n: int) -> tuple[Library, Screening]:
    library = Library.memory()
    run = library.start_run(offline=True)
    qv, _ = library.query_version_id(SavedQuery(name="q", term="ketamine"), run)
    words = ["ketamine trial alcohol", "rat ethanol slice"]
    library.store_batch(
        [(Article(pmid=str(i), title=f"{words[i % 2]} {i}",
                  abstract_sections=[AbstractSection(words[i % 2])]), None)
         for i in range(1, n + 1)], {str(i): [qv] for i in range(1, n + 1)}, run)
    library.create_review("r", ["q"], reasons=["wrong population", "wrong design"], seed=5)
    review = library.review("r")
    assert review is not None
    return library, Screening(library, review)


def test_keys_include_exclude_with_reason_maybe_note_skip_undo_quit() -> None:
    library, screening = library_with(6)
    session = ScreenSession(screening, "dana")
    first = session.current
    assert first is not None and session.rank == 1
    session.press("s")                                   # skip: it goes to the end
    assert session.current != first
    assert session.queue is not None and session.queue.entries[-1].key == first
    second = session.current
    for key in ("n", *"see methods", BACKSPACE, "!", ENTER):
        session.press(key)
    assert session.mode == "record" and session.note == "see method!"
    session.press("i")
    session.press("e")
    assert session.mode == "reason"
    session.press(ESC)                                   # back, nothing decided
    assert session.mode == "record"
    third = session.current
    session.press("e")
    session.press("9")                                   # not a listed reason: ignored
    assert session.mode == "reason"
    session.press("2")
    fourth = session.current
    session.press("M")
    rows = library.decision_trail(screening.review.id)
    assert [(r.key, r.decision, r.reason, r.note, r.reviewer, r.via) for r in rows] == [
        (second, "include", None, "see method!", "dana", "screen"),
        (third, "exclude", "wrong design", None, "dana", "screen"),
        (fourth, "maybe", None, None, "dana", "screen")]
    assert "maybe:" in session.message
    # with an inclusion and an exclusion the order comes from the model
    assert session.queue is not None and session.queue.ranked_by == "model"
    session.press("u")                                   # undo the maybe: back on that record
    assert session.current == fourth
    assert fourth not in current(library.decision_trail(screening.review.id))
    rows = library.decision_trail(screening.review.id)
    assert rows[-1].decision == "undo" and rows[-1].undoes == rows[-2].id
    session.press("q")
    assert session.mode == "done"


def test_undo_after_a_change_of_mind_restores_the_earlier_decision() -> None:
    library, screening = library_with(2)
    session = ScreenSession(screening, "erin")
    target = session.current
    assert target is not None
    session.press("i")
    session.advance(to=target)                           # back to it, as after a review
    session.press("e")
    session.press("1")
    assert current(library.decision_trail(screening.review.id))[target].decision == "exclude"
    session.press("u")
    assert current(library.decision_trail(screening.review.id))[target].decision == "include"
    session.press("u")
    session.press("u")
    assert "nothing to undo" in session.message
    assert target not in current(library.decision_trail(screening.review.id))


def test_empty_queue_is_done() -> None:
    library, screening = library_with(1)
    session = ScreenSession(screening, "f")
    session.press("i")
    assert session.mode == "done" and session.current is None


# -- a real terminal --------------------------------------------------------------------


def _pane(tmux: list[str]) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p", "-t", "screen"], capture_output=True,
                          text=True, check=False).stdout


def _wait_for(tmux: list[str], *texts: str, seconds: float = 60) -> str:
    # polls until the screen shows every text (a screen is drawn top to bottom, so
    # wait for what comes last too): a wait for a condition, not a timed assertion
    deadline = time.monotonic() + seconds
    while True:
        pane = _pane(tmux)
        if all(t in pane for t in texts) or time.monotonic() > deadline:
            return pane
        time.sleep(0.2)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_screen_in_tmux(kettrack_env: Path) -> None:
    db = copy_offline_library(kettrack_env / "library.db")
    assert invoke("review", "create", "aud", "--query", "ketamine-aud", "--keyword",
                  "ketamine").exit_code == 0
    tmux = ["tmux", "-L", f"kettrack-test-{os.getpid()}", "-f", "/dev/null"]
    done = kettrack_env / "done"
    command = (f"{sys.executable} -m kettrack screen aud --reviewer tmux-user; "
               f"echo $? > {done}; sleep 60")
    env = {**os.environ, "KETTRACK_DB": str(db), "TERM": "xterm-256color"}
    subprocess.run([*tmux, "new-session", "-d", "-s", "screen", "-x", "100", "-y", "40",
                    command], check=True, env=env)
    try:
        pane = _wait_for(tmux, "review aud · 0 of", "[i] include")
        assert "review aud · 0 of" in pane and "Random order" in pane
        subprocess.run([*tmux, "send-keys", "-t", "screen", "i"], check=True)
        pane = _wait_for(tmux, "1 included", "included ")  # the message is drawn last
        assert "included " in pane
        subprocess.run([*tmux, "send-keys", "-t", "screen", "e"], check=True)
        assert "Exclude: why?" in _wait_for(tmux, "Exclude: why?")
        subprocess.run([*tmux, "send-keys", "-t", "screen", "1"], check=True)
        assert "1 excluded" in _wait_for(tmux, "1 excluded", "(wrong population)")
        subprocess.run([*tmux, "send-keys", "-t", "screen", "q"], check=True)
        assert "2 decision(s) stored" in _wait_for(tmux, "stored in this session")
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
    with Library.open(db) as library:
        review = library.review("aud")
        assert review is not None
        rows = library.decision_trail(review.id)
    assert [(r.decision, r.reason, r.reviewer, r.via) for r in rows] == [
        ("include", None, "tmux-user", "screen"),
        ("exclude", "wrong population", "tmux-user", "screen")]
