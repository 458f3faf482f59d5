"""kettrack: track the literature on ketamine for alcohol use disorder.

Saved PubMed (and ClinicalTrials.gov) queries feed a local, deduplicated SQLite
library; digests, searches, claim checks and exports read from it.
"""

__version__ = "0.1.0"


def main() -> None:
    """The ``kettrack`` command (Ctrl-C while it starts up is a quiet exit 130 too)."""
    import sys

    try:
        from kettrack.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; nothing was changed\n")
        raise SystemExit(130) from None
    cli_main()
