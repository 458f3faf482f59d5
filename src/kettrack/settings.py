"""Settings read from the environment, and the one place secrets are masked.

Every setting has an environment variable (DESIGN.md) and most have a CLI
option; the CLI builds a :class:`Settings` with :meth:`Settings.from_env` and
overrides what the user passed on the command line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from kettrack.errors import ConfigError

EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
CTGOV_URL = "https://clinicaltrials.gov/api/v2/"
EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
DEFAULT_DB = "kettrack.db"


def _float_env(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value


def _url_env(env: dict[str, str], name: str, default: str) -> str:
    """A base URL from the environment: http(s), with a host, no query string."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        parts = urlsplit(raw)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or (
            parts.query or parts.fragment):
        raise ConfigError(f"{name}={redact(raw)!r} is not an http(s) base URL")
    return raw


def _int_env(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything a kettrack command needs to know about its surroundings."""

    db_path: Path = Path(DEFAULT_DB)
    queries_dir: Path = Path("queries")
    eutils_url: str = EUTILS_URL
    ctgov_url: str = CTGOV_URL
    europepmc_url: str = EUROPEPMC_URL
    api_key: str | None = field(default=None, repr=False)
    email: str | None = None
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str | None = None
    #: efetch batch size (IDs per request)
    batch_size: int = 500
    #: re-fetch records NLM has not finished indexing while younger than this
    refetch_days: int = 365
    #: seconds a second run waits for the library before giving up
    lock_timeout: float = 10.0
    #: HTTP timeouts and retry policy
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retries: int = 5
    backoff_base: float = 0.5
    #: requests per second; None means NCBI's default (3/s, 10/s with a key)
    rate_limit: float | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the ``KETTRACK_*`` and ``NCBI_*`` variables (see DESIGN.md)."""
        env = dict(os.environ if env is None else env)
        rate = env.get("KETTRACK_RATE_LIMIT")
        return cls(
            db_path=Path(env.get("KETTRACK_DB") or DEFAULT_DB),
            queries_dir=Path(env.get("KETTRACK_QUERIES") or "queries"),
            eutils_url=env.get("KETTRACK_EUTILS_URL") or EUTILS_URL,
            ctgov_url=env.get("KETTRACK_CTGOV_URL") or CTGOV_URL,
            europepmc_url=_url_env(env, "KETTRACK_EUROPEPMC_URL", EUROPEPMC_URL),
            api_key=env.get("NCBI_API_KEY") or None,
            email=env.get("NCBI_EMAIL") or None,
            smtp_url=env.get("KETTRACK_SMTP_URL") or None,
            mail_from=env.get("KETTRACK_MAIL_FROM") or None,
            batch_size=_int_env(env, "KETTRACK_BATCH_SIZE", 500),
            refetch_days=_int_env(env, "KETTRACK_REFETCH_DAYS", 365),
            lock_timeout=_float_env(env, "KETTRACK_LOCK_TIMEOUT", 10.0),
            connect_timeout=_float_env(env, "KETTRACK_CONNECT_TIMEOUT", 10.0),
            read_timeout=_float_env(env, "KETTRACK_READ_TIMEOUT", 60.0),
            max_retries=_int_env(env, "KETTRACK_MAX_RETRIES", 5),
            backoff_base=_float_env(env, "KETTRACK_BACKOFF", 0.5),
            rate_limit=_float_env(env, "KETTRACK_RATE_LIMIT", 0.0) if rate else None,
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings replaced (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **given)  # type: ignore[arg-type]

    @property
    def requests_per_second(self) -> float:
        """NCBI's limit: 3 requests/s, or 10/s with an API key."""
        if self.rate_limit:
            return self.rate_limit
        return 10.0 if self.api_key else 3.0

    def secrets(self) -> list[str]:
        """Every secret value in these settings, for :func:`redact`."""
        return _secrets(self.api_key, self.smtp_url)


def env_secrets(env: dict[str, str] | None = None) -> list[str]:
    """The secrets in the environment, read without validating anything else."""
    env = dict(os.environ if env is None else env)
    return _secrets(env.get("NCBI_API_KEY"), env.get("KETTRACK_SMTP_URL"))


def _secrets(api_key: str | None, smtp_url: str | None) -> list[str]:
    found = [api_key] if api_key else []
    if smtp_url:
        try:
            password = urlsplit(smtp_url).password
        except ValueError:
            password = None
        if password:
            found += [password, unquote(password), quote(password, safe="")]
    return [s for s in found if s]


_URL_SECRET = re.compile(r"(api_key=)[^&\s'\"]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(smtps?://[^:/@\s]+:)[^@\s]+(@)", re.IGNORECASE)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """Mask API keys and passwords in ``text`` (any ``api_key=`` value, any
    password in an SMTP URL, and each given secret wherever it appears)."""
    text = _URL_SECRET.sub(r"\1***", text)
    text = _URL_PASSWORD.sub(r"\1***\2", text)
    for secret in sorted(secrets or [], key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
