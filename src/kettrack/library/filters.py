"""The slice of the library a command looks at: ``--design``, ``--since``, ``--query``.

Shared by search, check and export. :class:`Filters` turns into SQL only inside
the library (:class:`kettrack.library.store.Library`); commands just build one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from kettrack.errors import ConfigError
from kettrack.library.design import DESIGNS


@dataclass(frozen=True)
class Filters:
    """The slice of the library a command looks at (each filter optional)."""

    designs: tuple[str, ...] = ()
    since: date | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        for d in self.designs:
            if d not in DESIGNS:
                raise ConfigError(f"--design {d!r} is not a design; one of {', '.join(DESIGNS)}")

    def article_sql(self, alias: str = "a") -> tuple[str, list[Any]]:
        """``AND ...`` conditions on the articles table (aliased ``alias``) and their
        parameters; an empty string when nothing is filtered."""
        parts: list[str] = []
        args: list[Any] = []
        if self.designs:
            parts.append(f"{alias}.design IN ({', '.join('?' * len(self.designs))})")
            args.extend(self.designs)
        if self.since is not None:
            # the day it entered PubMed; the publication year for records without one
            parts.append(f"coalesce({alias}.entrez_date, printf('%04d-01-01', {alias}.year)) >= ?")
            args.append(self.since.isoformat())
        if self.query is not None:
            parts.append(
                f"{alias}.pmid IN (SELECT m.pmid FROM memberships m JOIN query_versions q "
                "ON q.id = m.query_version_id WHERE q.name = ?)")
            args.append(self.query)
        return "".join(f" AND {p}" for p in parts), args

    def trial_sql(self, alias: str = "t") -> tuple[str, list[Any]] | None:
        """Like :meth:`article_sql`, for the trials table; None when the filters
        leave every trial out (``--design``: a registry record is not a study design)."""
        if self.designs:
            return None
        parts: list[str] = []
        args: list[Any] = []
        if self.since is not None:
            parts.append(f"{alias}.first_posted >= ?")
            args.append(self.since.isoformat())
        if self.query is not None:
            parts.append(
                f"{alias}.nct_id IN (SELECT m.nct_id FROM trial_memberships m JOIN "
                "query_versions q ON q.id = m.query_version_id WHERE q.name = ?)")
            args.append(self.query)
        return "".join(f" AND {p}" for p in parts), args


def parse_since(value: str | None, option: str = "--since") -> date | None:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as the first day it names."""
    if value is None:
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            return date(int(text), 1, 1)
        if re.fullmatch(r"\d{4}-\d{2}", text):
            return date(int(text[:4]), int(text[5:]), 1)
        return date.fromisoformat(text)
    except ValueError:
        pass
    raise ConfigError(f"{option} {value!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
