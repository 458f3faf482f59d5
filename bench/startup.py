"""What does a kettrack command cost before it does anything?

Times whole processes, as a user or a cron job starts them: ``kettrack --help``,
``--version``, ``show ID``, ``search WORDS`` and ``stats`` against a library made by
``run --offline`` in a temporary folder. Next to them, two baselines measured
in the same run: the bare interpreter (``python -c pass``, the floor) and an eager
import of every kettrack module with Bio.Entrez, rich and sqlite-utils (what every
command paid before imports were made lazy). Then, for ``--help`` and ``show``,
the slowest imports as ``python -X importtime`` reports them.

Target: ``--help`` and ``show ID`` under 0.3 s wall (median).

    python bench/startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EAGER = ("import importlib, pkgutil, kettrack, Bio.Entrez, rich.console, sqlite_utils\n"
         "for m in pkgutil.walk_packages(kettrack.__path__, 'kettrack.'):\n"
         "    if not m.name.endswith('__main__'):\n"
         "        importlib.import_module(m.name)\n")


def timed(argv: list[str], env: dict[str, str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-400:]}")
    return times


def slowest_imports(argv: list[str], env: dict[str, str], n: int = 6) -> list[tuple[int, str]]:
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env,
                          capture_output=True, cwd=ROOT, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line[len("import time:"):].split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):  # top level only
                rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "KETTRACK_DB": str(Path(folder) / "k.db"),
               "KETTRACK_QUERIES": str(ROOT / "queries")}
        kettrack = [sys.executable, "-m", "kettrack"]
        subprocess.run([*kettrack, "run", "--offline"], env=env, check=True,
                       capture_output=True, cwd=ROOT)
        pmid = subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1])"
             ".execute('SELECT pmid FROM articles LIMIT 1').fetchone()[0])", env["KETTRACK_DB"]],
            capture_output=True, text=True, check=True).stdout.strip()
        cases = [
            ("baseline: python -c pass", [sys.executable, "-c", "pass"]),
            ("baseline: eager import of everything", [sys.executable, "-c", EAGER]),
            ("kettrack --help", [*kettrack, "--help"]),
            ("kettrack --version", [*kettrack, "--version"]),
            (f"kettrack show {pmid}", [*kettrack, "show", pmid]),
            ("kettrack search ketamine relapse", [*kettrack, "search", "ketamine relapse"]),
            ("kettrack stats", [*kettrack, "stats"]),
        ]
        print(f"{'command':40} {'median s':>9} {'min s':>7}   ({args.repeat} runs each)")
        results = {}
        for label, argv in cases:
            times = timed(argv, env, args.repeat)
            results[label] = statistics.median(times)
            print(f"{label:40} {statistics.median(times):9.3f} {min(times):7.3f}")
        floor = results["baseline: python -c pass"]
        for label in ("kettrack --help", f"kettrack show {pmid}"):
            verdict = "meets" if results[label] < 0.3 else "misses"
            print(f"\n{label}: {results[label]:.3f} s, {results[label] - floor:.3f} s above the "
                  f"bare interpreter; {verdict} the 0.3 s target")
            for micros, name in slowest_imports(["-m", "kettrack", *label.split()[1:]], env):
                print(f"    {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
