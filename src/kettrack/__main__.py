"""``python -m kettrack``."""

from kettrack import main

main()
