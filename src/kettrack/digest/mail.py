"""Mailing a digest: ``KETTRACK_SMTP_URL``, a multipart/alternative message, one send.

``KETTRACK_SMTP_URL`` is ``smtp://[user[:password]@]host[:port]`` (plain, port
25), ``smtp://...?starttls=1`` (upgraded with STARTTLS, port 587) or
``smtps://...`` (TLS from the first byte, port 465). User and password are
percent-decoded. TLS certificates are verified against the system's trust
store (``SSL_CERT_FILE`` adds one).

:func:`send` raises :class:`~kettrack.errors.MailError` when the server cannot
be reached, refuses the login, the sender or every recipient, or fails the
transfer; the message never contains the password. Otherwise it returns the
recipients the server refused (none, usually): delivery is per recipient, and
:func:`kettrack.digest.deliver.deliver` records who got which items, so a
refused address gets them next time and nobody gets them twice.
"""

from __future__ import annotations

import email.policy
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qs, quote, unquote, urlsplit

from kettrack.errors import ConfigError, MailError
from kettrack.settings import redact
from kettrack.text import one_line

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


def _split_smtp_url(url: str) -> tuple[str, str | None, str | None, str, str]:
    """(scheme, user, password, host[:port], query) of an SMTP URL, decoded.

    The host is what follows the *last* ``@``, so a password holding ``/``,
    ``?``, ``#`` or ``@`` unescaped stays a password (``urlsplit`` would read
    part of it as the host, and show it in an error).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ConfigError("KETTRACK_SMTP_URL must look like smtp://[user[:password]@]host[:port] "
                          "(or smtps://...)")
    userinfo, at, hostpart = rest.rpartition("@")
    user = password = None
    if at:
        raw_user, colon, raw_password = userinfo.partition(":")
        user = unquote(raw_user) if raw_user else None
        password = unquote(raw_password) if colon else None
    hostport, _, query = hostpart.partition("?")
    return scheme.lower(), user, password, hostport, query


def smtp_password(url: str | None) -> str | None:
    """The password in an SMTP URL, read as :func:`parse_smtp_url` reads it."""
    if not url:
        return None
    try:
        return _split_smtp_url(url)[2]
    except ConfigError:
        return None


def parse_smtp_url(url: str | None) -> SmtpTarget:
    """Read ``KETTRACK_SMTP_URL``; a malformed one is a :class:`ConfigError`
    whose message shows the URL with its password masked."""
    if not url:
        raise ConfigError("--email needs KETTRACK_SMTP_URL (smtp://[user[:password]@]host[:port])")
    scheme, user, password, hostport, raw_query = _split_smtp_url(url)
    login = "" if user is None and password is None else (
        f"{quote(user or '', safe='')}{':***' if password is not None else ''}@")
    shown = f"{scheme}://{login}{hostport}{'?' + raw_query if raw_query else ''}"
    shown = redact(shown, [password] if password else [])
    if any(c.isspace() or ord(c) < 32 for c in hostport):
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: spaces or control characters in the host")
    parts = urlsplit("//" + hostport)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: bad port") from None
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: scheme must be smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: no host")
    if parts.path not in ("", "/"):
        raise ConfigError(f"KETTRACK_SMTP_URL={shown!r}: no path after the host (a password "
                          "with '@' must be written %40)")
    query = parse_qs(raw_query)
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
        user=user, password=password,
    )


def check_address(address: str, where: str) -> str:
    """An e-mail address as given, or :class:`ConfigError` naming ``where``.

    Read as a mail header reads it, so an encoded word (``=?utf-8?q?...?=``)
    that decodes to a line break or other control character is refused here,
    not half-way through building the message.
    """
    address = address.strip()
    shown = one_line(address)
    bad = ConfigError(f"{where} {shown!r} is not an e-mail address")
    name, addr = parseaddr(address)
    local, _, domain = addr.partition("@")
    if (not addr or not local or not domain or any(c in address for c in "\r\n,;")
            or " " in addr):
        raise bad
    try:
        found = email.policy.default.header_factory("To", address).addresses
    except (ValueError, IndexError, TypeError, AttributeError):
        raise bad from None
    if len(found) != 1 or any(one_line(part) != part for part in (
            found[0].display_name, found[0].addr_spec)) or not found[0].domain:
        raise bad
    return address


def address_of(recipient: str) -> str:
    """The bare address of a recipient as given (``Ana <ana@x.org>`` -> ``ana@x.org``)."""
    return parseaddr(recipient)[1]


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


def send(message: EmailMessage, target: SmtpTarget, *,
         timeout: float = TIMEOUT) -> dict[str, str]:
    """Deliver ``message`` to its From/To through ``target``.

    Returns the recipients the server refused, each with its reason (empty:
    accepted for every one). Raises :class:`MailError` when nobody got it (the
    server cannot be reached, refuses the login, the sender or every
    recipient, or fails the transfer).
    """
    sender = parseaddr(str(message["From"]))[1]
    recipients = [parseaddr(a.strip())[1] for a in str(message["To"]).split(",")]
    try:
        return _deliver(message, target, sender, recipients, timeout)
    except MailError as exc:
        raise MailError(redact(str(exc), target.secrets())) from None


def _deliver(message: EmailMessage, target: SmtpTarget, sender: str, recipients: list[str],
             timeout: float) -> dict[str, str]:
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
        # delivered to some: the caller records who got it, and the refused
        # addresses get these items next time
        return {address: _refused({address: answer}) for address, answer in refused.items()}
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
