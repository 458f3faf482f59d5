"""Mailing a digest: ``KETTRACK_SMTP_URL``, a multipart/alternative message, one send.

``KETTRACK_SMTP_URL`` is ``smtp://[user[:password]@]host[:port]`` (plain, port
25), ``smtp://...?starttls=1`` (upgraded with STARTTLS, port 587) or
``smtps://...`` (TLS from the first byte, port 465). User and password are
percent-decoded. TLS certificates are verified against the system's trust
store (``SSL_CERT_FILE`` adds one).

:func:`send` raises :class:`~kettrack.errors.MailError` when the server cannot
be reached, refuses the login, the sender or any recipient, or fails the
transfer; the message never contains the password. It returns only once the
server accepted the message for every recipient, which is when the caller may
mark the digest as sent.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from kettrack.errors import ConfigError, MailError
from kettrack.settings import redact

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to deliver: parsed from ``KETTRACK_SMTP_URL``."""

    host: str
    port: int
    ssl: bool = False
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """``host:port`` for messages (never the credentials)."""
        return f"{self.host}:{self.port}"

    def secrets(self) -> list[str]:
        """The password, for :func:`kettrack.settings.redact`."""
        return [self.password] if self.password else []


def parse_smtp_url(url: str | None) -> SmtpTarget:
    """Read ``KETTRACK_SMTP_URL``; a malformed one is a :class:`ConfigError`
    whose message shows the URL with its password masked."""
    if not url:
        raise ConfigError("--email needs KETTRACK_SMTP_URL (smtp://[user[:password]@]host[:port])")
    parts = urlsplit(url)
    password = parts.password
    shown = redact(url, [password, unquote(password)] if password else [])
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: bad port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: scheme must be smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: no host")
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: unknown option {sorted(unknown)[0]!r} "
                          "(only starttls=1)")
    flag = (query.get("starttls") or ["0"])[-1].lower()
    if flag not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: starttls must be 1 or 0")
    starttls = flag in ("1", "true", "yes")
    if scheme == "smtps" and starttls:
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: smtps:// is TLS already; "
                          "drop ?starttls=1")
    default = DEFAULT_PORTS["smtps" if scheme == "smtps" else
                           "smtp+starttls" if starttls else "smtp"]
    return SmtpTarget(
        host=parts.hostname, port=port or default, ssl=scheme == "smtps", starttls=starttls,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def check_address(address: str, where: str) -> str:
    """An e-mail address as given, or :class:`ConfigError` naming ``where``."""
    address = address.strip()
    name, addr = parseaddr(address)
    local, _, domain = addr.partition("@")
    if (not addr or not local or not domain or any(c in address for c in "\r\n,;")
            or " " in addr):
        raise ConfigError(f"{where} {address!r} is not an e-mail address")
    return address


def build_message(*, subject: str, sender: str, recipients: list[str], text: str,
                  html: str) -> EmailMessage:
    """A multipart/alternative message: the plain text first, the HTML preferred."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(message: EmailMessage, target: SmtpTarget, *, timeout: float = TIMEOUT) -> None:
    """Deliver ``message`` to its From/To through ``target``; raise :class:`MailError`
    unless the server accepted it for every recipient."""
    sender = parseaddr(str(message["From"]))[1]
    recipients = [parseaddr(a.strip())[1] for a in str(message["To"]).split(",")]
    try:
        _deliver(message, target, sender, recipients, timeout)
    except MailError as exc:
        raise MailError(redact(str(exc), target.secrets())) from None


def _deliver(message: EmailMessage, target: SmtpTarget, sender: str, recipients: list[str],
             timeout: float) -> None:
    where = f"SMTP server {target.where}"
    context = ssl.create_default_context()
    client: smtplib.SMTP
    try:
        if target.ssl:
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{where}: cannot connect ({_reason(exc)})") from None
    try:
        try:
            client.ehlo_or_helo_if_needed()
            if target.starttls:
                client.starttls(context=context)
                client.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"{where}: TLS failed ({_reason(exc)})") from None
        if target.user:
            try:
                client.login(target.user, target.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                raise MailError(f"{where}: login as {target.user!r} refused "
                                f"({_reason(exc)})") from None
            except smtplib.SMTPNotSupportedError:
                raise MailError(f"{where}: the server offers no login (AUTH) on this "
                                "connection; try ?starttls=1 or smtps://") from None
            except (OSError, smtplib.SMTPException) as exc:
                raise MailError(f"{where}: login failed ({_reason(exc)})") from None
        try:
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"{where}: refused every recipient ({_refused(exc.recipients)})"
                            ) from None
        except smtplib.SMTPSenderRefused as exc:
            raise MailError(f"{where}: refused sender {sender!r} ({_reason(exc)})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"{where}: sending failed ({_reason(exc)})") from None
        if refused:
            # delivered to some: still a failure, so the digest stays unmarked and
            # the refused addresses get these items next time
            accepted = [r for r in recipients if r not in refused]
            raise MailError(f"{where}: refused {_refused(refused)}; accepted "
                            f"{', '.join(accepted)}")
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {' '.join(text.split())}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return " ".join(str(exc).split()) or type(exc).__name__


def _refused(refused: dict[str, tuple[int, bytes]]) -> str:
    parts = []
    for address, (code, text) in refused.items():
        message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        parts.append(f"{address}: {code} {' '.join(message.split())}")
    return "; ".join(parts)
