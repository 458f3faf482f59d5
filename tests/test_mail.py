"""``kettrack digest --email`` against a real SMTP server on loopback (aiosmtpd).

Each failure (refused recipient, server down, login refused) must exit 1, mark
nothing, keep the password out of every output, and leave the items for the
next digest.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import socket
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from typer.testing import CliRunner

from kettrack.cli import app
from kettrack.digest.mail import parse_smtp_url
from kettrack.errors import ConfigError
from kettrack.library.article import AbstractSection, Article
from kettrack.library.store import Library
from kettrack.queries import SavedQuery

runner = CliRunner()
PASSWORD = "s3cr3t-Pa55word"
SENDER = "kettrack@example.org"


@dataclass
class Inbox:
    """What the server received, and what it should refuse."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_login(server: Any, session: Any, envelope: Any, mechanism: str,
                auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int, dict[str, Any]]]:
    """An SMTP server on 127.0.0.1; ``options`` (set before ``start``) configures it."""
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = {}
    controllers: list[Controller] = []

    def start() -> None:
        with warnings.catch_warnings():
            # aiosmtpd warns that AUTH without TLS is unsafe: on loopback that is the point
            warnings.simplefilter("ignore")
            controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
            controller.start()
        controllers.append(controller)

    options["start"] = start
    yield inbox, port, options
    for controller in controllers:
        controller.stop()


def stored_library() -> None:
    library = Library.open(os.environ["KETTRACK_DB"])
    run = library.start_run(offline=True)
    qv, _ = library.query_version_id(SavedQuery(name="ketamine-aud", term="ketamine"), run)
    articles = [
        Article(pmid="1", title="Ketamine <script>x</script> & alcohol: a randomized trial",
                abstract_sections=[AbstractSection("96 patients. Ketamine helped.")],
                design="rct", species="human", sample_size=96, authors=["Grabski M"]),
        Article(pmid="2", title="Ketamine and drinking: a cohort", design="observational"),
    ]
    library.store_batch([(a, None) for a in articles],
                        {a.pmid: [qv] for a in articles}, run)
    library.close()


def marked_digests() -> int:
    library = Library.open(os.environ["KETTRACK_DB"])
    try:
        return int(library.db.execute("SELECT count(*) FROM digests").fetchone()[0])
    finally:
        library.close()


def still_pending() -> list[str]:
    result = runner.invoke(app, ["digest", "--peek", "--format", "json"])
    sections = json.loads(result.output)["sections"]
    return sorted(a["pmid"] for items in sections.values() for a in items)


def use_smtp(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("KETTRACK_SMTP_URL", url)
    monkeypatch.setenv("KETTRACK_MAIL_FROM", SENDER)


def test_sends_multipart_digest_and_marks_it(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port, options = smtp_server
    options.update(auth_require_tls=False, authenticator=check_login)
    options.pop("start")()
    use_smtp(monkeypatch, f"smtp://digest:{PASSWORD}@127.0.0.1:{port}")
    stored_library()
    result = runner.invoke(app, ["digest", "--email", "ana@example.org",
                                 "--email", "ben@example.org"])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    [(mail_from, rcpt, raw)] = inbox.messages
    assert mail_from == SENDER and rcpt == ["ana@example.org", "ben@example.org"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "kettrack digest: 1 new trial, 1 new study"
    assert message["To"] == "ana@example.org, ben@example.org"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert "Ketamine <script>x</script> & alcohol" in text_part.get_content()
    page = html_part.get_content()
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt; &amp; alcohol" in page
    assert PASSWORD not in raw.decode()
    assert marked_digests() == 1 and still_pending() == []


def test_refused_recipient_marks_nothing(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port, options = smtp_server
    inbox.refuse.add("nobody@example.org")
    options.pop("start")()
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{port}")
    stored_library()
    result = runner.invoke(app, ["digest", "--email", "nobody@example.org"])
    assert result.exit_code == 1
    assert "refused every recipient (nobody@example.org: 550" in result.output
    assert inbox.messages == [] and marked_digests() == 0
    assert still_pending() == ["1", "2"]


def add_article(pmid: str, title: str) -> None:
    library = Library.open(os.environ["KETTRACK_DB"])
    run = library.start_run(offline=True)
    qv, _ = library.query_version_id(SavedQuery(name="ketamine-aud", term="ketamine"), run)
    library.store_batch([(Article(pmid=pmid, title=title, design="rct"), None)], {pmid: [qv]},
                        run)
    library.close()


def pmids_in(raw: bytes) -> list[str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    return sorted(p for p in ("1", "2", "3") if f"pubmed.ncbi.nlm.nih.gov/{p}/" in text)


def test_partial_refusal_is_recorded_per_recipient(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """ana is accepted, ben refused: ana must not get the items again, ben must get
    them all, and they are marked only once both have them."""
    inbox, port, options = smtp_server
    inbox.refuse.add("ben@example.org")
    options.pop("start")()
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{port}")
    stored_library()
    both = ["digest", "--email", "ana@example.org", "--email", "Ben <ben@example.org>"]
    first = runner.invoke(app, both)
    assert first.exit_code == 1 and first.stderr.count("\n") == 1
    assert "refused ben@example.org: 550 5.1.1 no such mailbox here" in first.stderr
    assert "sent to ana@example.org" in first.stderr
    [(_, rcpt, raw)] = inbox.messages
    assert rcpt == ["ana@example.org"] and pmids_in(raw) == ["1", "2"]
    assert marked_digests() == 0 and still_pending() == ["1", "2"]

    # a week later: one more article, and ben's mailbox works again
    add_article("3", "Ketamine for alcohol use disorder: a second trial")
    inbox.refuse.clear()
    second = runner.invoke(app, both)
    assert second.exit_code == 0, second.output
    got = {tuple(rcpt): pmids_in(raw) for _, rcpt, raw in inbox.messages[1:]}
    assert got == {("ana@example.org",): ["3"], ("ben@example.org",): ["1", "2", "3"]}
    assert marked_digests() == 1 and still_pending() == []

    # and nobody gets anything twice
    third = runner.invoke(app, [*both, "--quiet-if-empty"])
    assert third.exit_code == 0 and len(inbox.messages) == 3


def test_a_recipient_who_has_everything_gets_no_mail(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port, options = smtp_server
    inbox.refuse.add("ben@example.org")
    options.pop("start")()
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{port}")
    stored_library()
    both = ["digest", "--email", "ana@example.org", "--email", "ben@example.org"]
    assert runner.invoke(app, both).exit_code == 1
    # ben still refused: ana is not mailed the same items again, and nothing is marked
    again = runner.invoke(app, both)
    assert again.exit_code == 1 and "sent to" not in again.stderr
    assert [rcpt for _, rcpt, _ in inbox.messages] == [["ana@example.org"]]
    assert marked_digests() == 0


def test_server_down_marks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_smtp(monkeypatch, f"smtp://digest:{PASSWORD}@127.0.0.1:{free_port()}")
    stored_library()
    result = runner.invoke(app, ["digest", "--email", "ana@example.org"])
    assert result.exit_code == 1
    assert "cannot connect" in result.output and PASSWORD not in result.output
    assert marked_digests() == 0 and still_pending() == ["1", "2"]


def test_login_failure_marks_nothing_and_hides_password(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port, options = smtp_server
    options.update(auth_require_tls=False, authenticator=check_login)
    options.pop("start")()
    wrong = "wr0ng-" + PASSWORD
    use_smtp(monkeypatch, f"smtp://digest:{wrong}@127.0.0.1:{port}")
    stored_library()
    result = runner.invoke(app, ["digest", "--email", "ana@example.org"])
    assert result.exit_code == 1
    assert "login as 'digest' refused (535" in result.output
    assert wrong not in result.output and PASSWORD not in result.output
    assert inbox.messages == [] and marked_digests() == 0 and still_pending() == ["1", "2"]


def test_starttls_with_a_self_signed_certificate(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed: cannot make a self-signed certificate offline")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port, options = smtp_server
    options.update(tls_context=context, require_starttls=True, authenticator=check_login,
                   auth_require_tls=True)
    options.pop("start")()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate only
    use_smtp(monkeypatch, f"smtp://digest:{PASSWORD}@127.0.0.1:{port}?starttls=1")
    stored_library()
    result = runner.invoke(app, ["digest", "--email", "ana@example.org"])
    assert result.exit_code == 0, result.output
    assert len(inbox.messages) == 1 and marked_digests() == 1
    # without STARTTLS the server offers no login, and says so
    use_smtp(monkeypatch, f"smtp://digest:{PASSWORD}@127.0.0.1:{port}")
    plain = runner.invoke(app, ["digest", "--email", "ana@example.org"])
    assert plain.exit_code == 1 and PASSWORD not in plain.output


def test_quiet_if_empty_sends_nothing(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
        kettrack_env: Path) -> None:
    inbox, port, options = smtp_server
    options.pop("start")()
    Library.open(kettrack_env / "library.db").close()  # a library with nothing new
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{port}")
    result = runner.invoke(app, ["digest", "--quiet-if-empty", "--email", "ana@example.org"])
    assert result.exit_code == 0 and result.output == "" and inbox.messages == []


@pytest.mark.parametrize("url, target", [
    ("smtp://mail.example.org", ("mail.example.org", 25, False, False, None)),
    ("smtp://u%40x:p%3Aw@mail.example.org?starttls=1", ("mail.example.org", 587, False, True,
                                                          "u@x")),
    ("smtps://u:p@mail.example.org:2465", ("mail.example.org", 2465, True, False, "u")),
])
def test_parse_smtp_url(url: str, target: tuple[Any, ...]) -> None:
    parsed = parse_smtp_url(url)
    assert (parsed.host, parsed.port, parsed.ssl, parsed.starttls, parsed.user) == target
    assert "password" not in repr(parsed)  # the dataclass never shows it


@pytest.mark.parametrize("url", ["http://u:hunter22@x", "smtp://u:hunter22@x?tls=1",
                                 "smtps://u:hunter22@x?starttls=1", "smtp://u:hunter22@x:99999",
                                 "smtp://u:hunter22/x@host:bad", "smtp://u:hun/ter22@x:99999",
                                 "smtp://u:hunter22/@@x?tls=1", "smtp:/u:hunter22@x"])
def test_bad_smtp_url_hides_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(url)
    assert "hunter22" not in str(caught.value) and "KETTRACK_SMTP_URL" in str(caught.value)


def test_password_with_unescaped_slash_is_a_password() -> None:
    parsed = parse_smtp_url("smtp://digest:pa/ss?w#rd@mail.example.org:2525")
    assert (parsed.host, parsed.port, parsed.user) == ("mail.example.org", 2525, "digest")
    assert parsed.password == "pa/ss?w#rd"


def test_server_down_with_slash_in_password_hides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    use_smtp(monkeypatch, f"smtp://digest:hunter/22@127.0.0.1:{free_port()}")
    stored_library()
    result = runner.invoke(app, ["digest", "--email", "ana@example.org"])
    assert result.exit_code == 1 and "cannot connect" in result.stderr
    assert "hunter" not in result.output and "127.0.0.1" in result.stderr


@pytest.mark.parametrize("address", [
    "=?utf-8?q?Ana=0D=0ABcc:_evil@x.org?= <ana@example.org>",
    "=?utf-8?b?QW5hDQpCY2M6IGV2aWxAeC5vcmc=?= <ana@example.org>",
    "=?utf-8?q?=1B]0;pwned=07?= <ana@example.org>",
])
def test_encoded_word_with_a_line_break_is_bad_input(address: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    use_smtp(monkeypatch, "smtp://127.0.0.1:2525")
    result = runner.invoke(app, ["digest", "--email", address])
    assert result.exit_code == 2 and result.stderr.startswith("Error: --email ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_peek_mails_everyone_everything_and_records_nothing(
        smtp_server: tuple[Inbox, int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port, options = smtp_server
    inbox.refuse.add("ben@example.org")
    options.pop("start")()
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{port}")
    stored_library()
    both = ["digest", "--email", "ana@example.org", "--email", "ben@example.org"]
    assert runner.invoke(app, [*both, "--peek"]).exit_code == 1
    inbox.refuse.clear()
    assert runner.invoke(app, both).exit_code == 0
    # the peeked mail held nothing back: ana gets the real digest too, in one message
    assert [(rcpt, pmids_in(raw)) for _, rcpt, raw in inbox.messages] == [
        (["ana@example.org"], ["1", "2"]),
        (["ana@example.org", "ben@example.org"], ["1", "2"])]
    assert marked_digests() == 1
