"""The exceptions kettrack raises, and what the CLI makes of them.

Library code raises; only ``cli.py`` turns an exception into an exit code and a
one-line message. The tree::

    KettrackError
    ├── BadInput                 exit 2: the user's input is wrong
    │   ├── QueryFileError       a saved query file that cannot be read (names file and line)
    │   ├── UnknownQuery         a query name that is not saved (lists the known ones)
    │   ├── QuerySyntaxError     PubMed syntax that kettrack or NCBI rejects
    │   ├── BadIdentifier        an ID that is not a PMID, DOI, PMCID or NCT number
    │   ├── NotInLibrary         a well-formed ID the library does not hold
    │   ├── SearchSyntaxError    a bad ``--raw`` full-text expression
    │   └── ConfigError          a malformed environment variable or option value
    └── Failure                  exit 1: something outside the user's control failed
        ├── NetworkError         no usable answer from a service after retries
        ├── ServiceError         NCBI / ClinicalTrials.gov answered with an error
        ├── LibraryBusy          another kettrack holds the library
        └── MailError            the mail server refused or could not be reached

Every message is one line, names the thing at fault, and never contains a
secret: :func:`kettrack.settings.redact` is applied by the CLI before printing.
"""

from __future__ import annotations


class KettrackError(Exception):
    """Base class of every error kettrack reports to its user."""

    exit_code = 1


class BadInput(KettrackError):
    """The user's input is wrong; exit code 2."""

    exit_code = 2


class QueryFileError(BadInput):
    """A saved query file is malformed."""


class UnknownQuery(BadInput):
    """A query name was given that is not in the queries folder."""


class QuerySyntaxError(BadInput):
    """PubMed search syntax that cannot be run as written."""


class BadIdentifier(BadInput):
    """Text that is not a PMID, DOI, PMCID or NCT number."""


class NotInLibrary(BadInput):
    """A well-formed identifier that the library does not hold."""


class SearchSyntaxError(BadInput):
    """A full-text expression SQLite FTS5 rejects (only with ``--raw``)."""


class ConfigError(BadInput):
    """A malformed setting (environment variable or option)."""


class Failure(KettrackError):
    """Something outside the user's control failed; exit code 1."""

    exit_code = 1


class NetworkError(Failure):
    """A service could not be reached, or kept failing, after all retries."""


class ServiceError(Failure):
    """A service answered, but with an error (``<ERROR>``, an HTML page, bad XML)."""


class LibraryBusy(Failure):
    """Another kettrack process holds the library for longer than we wait."""


class MailError(Failure):
    """The mail server could not be reached or refused the digest."""
