"""``python -m kettrack``."""

from kettrack.cli import app

app(prog_name="kettrack")
