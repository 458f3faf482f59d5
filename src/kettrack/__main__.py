"""``python -m kettrack``."""

from .cli import app

app(prog_name="kettrack")
