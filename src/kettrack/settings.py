"""Settings read from the environment, and the one place secrets are masked.

Every setting has an environment variable (README, "Configuration") and most have a CLI
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


def _int_env(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _positive(env: dict[str, str], name: str, default: float) -> float:
    value = _float_env(env, name, default)
    if value == 0:
        raise ConfigError(f"{name}={env.get(name)!r} must be more than 0")
    return value


def check_service_url(name: str, url: str, secrets: list[str] | None = None) -> str:
    """A service base URL as given, or :class:`ConfigError` naming ``name``
    (with any secret in the URL masked): an ``http://`` or ``https://`` URL
    with a host, a valid port and no query string, checked at start-up so a bad
    one fails before any request is sent."""
    shown = redact(url, secrets)
    bad = f"{name}={shown!r} is not a usable URL"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"{bad}: it contains spaces or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"{bad} ({redact(str(exc), secrets)})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{bad}: it must start with http:// or https://")
    if not parts.hostname:
        raise ConfigError(f"{bad}: it names no host")
    if parts.query or parts.fragment:
        raise ConfigError(f"{bad}: a base URL takes no ?query or #fragment")
    return url


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
    #: HTTP timeouts and retry policy; ``request_timeout`` is the overall deadline
    #: of one try (a server trickling bytes never holds a run for longer)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    request_timeout: float = 300.0
    #: the largest answer accepted, decoded (a gzip bomb stops here)
    max_response_mb: int = 256
    max_retries: int = 5
    backoff_base: float = 0.5
    #: requests per second; None means NCBI's default (3/s, 10/s with a key)
    rate_limit: float | None = None
    #: worker processes that parse a big backfill; None: one per core, 0 or 1: none
    workers: int | None = None
    #: records to fetch from which a run parses them in worker processes
    workers_from: int = 1500

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the ``KETTRACK_*`` and ``NCBI_*`` variables (the README lists them)."""
        env = dict(os.environ if env is None else env)
        rate = env.get("KETTRACK_RATE_LIMIT")
        api_key = env.get("NCBI_API_KEY") or None
        hidden = [api_key] if api_key else []
        return cls(
            db_path=Path(env.get("KETTRACK_DB") or DEFAULT_DB),
            queries_dir=Path(env.get("KETTRACK_QUERIES") or "queries"),
            eutils_url=check_service_url("KETTRACK_EUTILS_URL",
                                         env.get("KETTRACK_EUTILS_URL") or EUTILS_URL, hidden),
            ctgov_url=check_service_url("KETTRACK_CTGOV_URL",
                                        env.get("KETTRACK_CTGOV_URL") or CTGOV_URL, hidden),
            europepmc_url=check_service_url(
                "KETTRACK_EUROPEPMC_URL", env.get("KETTRACK_EUROPEPMC_URL") or EUROPEPMC_URL,
                hidden),
            api_key=api_key,
            email=env.get("NCBI_EMAIL") or None,
            smtp_url=env.get("KETTRACK_SMTP_URL") or None,
            mail_from=env.get("KETTRACK_MAIL_FROM") or None,
            batch_size=_int_env(env, "KETTRACK_BATCH_SIZE", 500),
            refetch_days=_int_env(env, "KETTRACK_REFETCH_DAYS", 365),
            lock_timeout=_float_env(env, "KETTRACK_LOCK_TIMEOUT", 10.0),
            connect_timeout=_float_env(env, "KETTRACK_CONNECT_TIMEOUT", 10.0),
            read_timeout=_float_env(env, "KETTRACK_READ_TIMEOUT", 60.0),
            request_timeout=_positive(env, "KETTRACK_REQUEST_TIMEOUT", 300.0),
            max_response_mb=_int_env(env, "KETTRACK_MAX_RESPONSE_MB", 256),
            # 0: no retries, one try each
            max_retries=_int_env(env, "KETTRACK_MAX_RETRIES", 5, minimum=0),
            backoff_base=_float_env(env, "KETTRACK_BACKOFF", 0.5),
            rate_limit=_float_env(env, "KETTRACK_RATE_LIMIT", 0.0) if rate else None,
            workers=(_int_env(env, "KETTRACK_WORKERS", 0, minimum=0)
                     if env.get("KETTRACK_WORKERS") else None),
            workers_from=_int_env(env, "KETTRACK_WORKERS_FROM", 1500),
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
        # the password runs to the last "@" (it may hold "/" unescaped), as
        # kettrack.digest.mail reads it; urlsplit would cut it at the "/"
        userinfo, at, _ = smtp_url.partition("://")[2].rpartition("@")
        password = userinfo.partition(":")[2] if at else None
        if password:
            found += [password, unquote(password), quote(password, safe="")]
    return [s for s in found if s]


_URL_SECRET = re.compile(r"(api_key=)[^&\s'\"]+", re.IGNORECASE)
#: a key echoed in a JSON or XML error body: "api-key":"...", <api_key>...</api_key>
_ECHOED_KEY = re.compile(r"""(["']?api[-_ ]?key["']?\s*[:=]\s*["']?)[^"'\s,}&<]+""",
                         re.IGNORECASE)
_XML_KEY = re.compile(r"(<api[-_]?key>)[^<]*(</api[-_]?key>)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(smtps?://[^:/@\s]+:)[^@\s]+(@)", re.IGNORECASE)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """Mask API keys and passwords in ``text`` (any ``api_key=`` value, any
    password in an SMTP URL, and each given secret wherever it appears)."""
    text = _URL_SECRET.sub(r"\1***", text)
    text = _ECHOED_KEY.sub(r"\1***", text)
    text = _XML_KEY.sub(r"\1***\2", text)
    text = _URL_PASSWORD.sub(r"\1***\2", text)
    for secret in sorted(secrets or [], key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
