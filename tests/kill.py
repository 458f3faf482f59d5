"""Kill a ``kettrack run`` mid-way, as a power cut or the OOM killer would."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def run_killed_once_stored(db: Path, env: dict[str, str], *, seconds: float = 60) -> bool:
    """Start ``kettrack run --offline``, SIGKILL it as soon as the library holds an
    article (polling: a wait for a condition, not a timed assertion), and say whether
    it was killed (False: it finished first)."""
    proc = subprocess.Popen([sys.executable, "-m", "kettrack", "run", "--offline"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db, timeout=0.1) as conn:
                if conn.execute("SELECT count(*) FROM articles").fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed
