"""Mailing the digest through an SMTP relay, with nothing but the standard library.

One multipart/alternative message per digest: the plain-text table for terminals and mail
archives, the HTML one for everyone else. Any failure becomes a `NotifyError`, so the watcher
keeps the issues un-notified and retries next cycle.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from esbridge.config.notify import SmtpConfig
from esbridge.notify.digest import Digest
from esbridge.notify.errors import NotifyError

log = logging.getLogger("esbridge.notify")


def send_digest(config: SmtpConfig, digest: Digest) -> None:
    """Mail `digest` to `config.to`; raises NotifyError unless at least one recipient took it."""
    message = build_message(config, digest)
    try:
        with _connect(config) as client:
            if config.security == "starttls":
                client.starttls(context=_tls_context(config))
            if config.username is not None and config.password is not None:
                client.login(config.username, config.password.get_secret_value())
            refused = client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        answer = exc.smtp_error
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
        raise _error(config, f"the server answered {exc.smtp_code} {text}") from exc
    except (smtplib.SMTPException, OSError, UnicodeError) as exc:
        raise _error(config, str(exc) or type(exc).__name__) from exc
    if refused:
        # Not an error: a retry would mail everyone else again, every cycle.
        log.warning("the SMTP server refused some recipients: %s", ", ".join(sorted(refused)))


def probe(config: SmtpConfig) -> str:
    """Connect, greet, secure and log in as `send_digest` would, send nothing; the server's
    greeting. For `esbridge check`: raises NotifyError naming the relay and what failed."""
    try:
        with _connect(config) as client:
            code, greeting = client.ehlo()
            if config.security == "starttls":
                client.starttls(context=_tls_context(config))
            if config.username is not None and config.password is not None:
                client.login(config.username, config.password.get_secret_value())
            client.noop()
    except smtplib.SMTPResponseException as exc:
        answer = exc.smtp_error
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
        raise _error(config, f"the server answered {exc.smtp_code} {text}") from exc
    except (smtplib.SMTPException, OSError, UnicodeError) as exc:
        raise _error(config, str(exc) or type(exc).__name__) from exc
    first = greeting.decode(errors="replace").splitlines()[0] if greeting else ""
    return f"{code} {first}".strip()


def build_message(config: SmtpConfig, digest: Digest) -> EmailMessage:
    """The digest as a multipart/alternative mail (text/plain first, as the standard asks)."""
    message = EmailMessage()
    message["Subject"] = digest.subject
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain, not socket.getfqdn(), which can stall on a host with broken DNS.
    message["Message-ID"] = make_msgid("esbridge", domain=config.sender.rpartition("@")[2])
    message.set_content(digest.text)
    message.add_alternative(digest.html, subtype="html")
    return message


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.security == "ssl":
        return smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=_tls_context(config)
        )
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout)


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    cafile = None if config.ca_certs is None else str(config.ca_certs)
    return ssl.create_default_context(cafile=cafile)


def _error(config: SmtpConfig, reason: str) -> NotifyError:
    return NotifyError(f"cannot mail the digest via {config.host}:{config.port}: {reason}")
