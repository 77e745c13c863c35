"""Outgoing mail over SMTP, configured by SMTP_URL; without it (never in production), the log.

TLS, implicit (smtps://) or by STARTTLS, always verifies the server's certificate and host
name, against the system's CAs or SMTP_CA_FILE: the SMTP credentials and the mail itself go
only to the server the URL names.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from blinker import Namespace

from app.core.settings import Settings, current_settings

log = logging.getLogger(__name__)

# What observability (app/core/tracing.py) hooks into; mail imports none of it.
signals = Namespace()
# Sent as a mail goes to the SMTP server (``host``, ``port``): each receiver returns a context
# manager the sending runs in (tracing: a client span).
mail_sending = signals.signal("mail-sending")


def send_mail(message: EmailMessage) -> None:
    settings = current_settings()
    if "From" not in message:
        message["From"] = settings.mail_from
    if not settings.smtp_url:
        # Production refuses to start without SMTP_URL, so a body is logged only elsewhere.
        log.info("mail not sent (SMTP_URL is unset):\n%s", readable(message))
        return
    url = urlsplit(settings.smtp_url)
    host = url.hostname or "localhost"
    port = url.port or (465 if url.scheme == "smtps" else 587)
    smtp: smtplib.SMTP
    with contextlib.ExitStack() as contexts:
        for _receiver, context in mail_sending.send(host=host, port=port):
            contexts.enter_context(context)
        if url.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=settings.smtp_timeout, context=tls_context(settings)
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=settings.smtp_timeout)
        with smtp:
            if url.scheme == "smtp" and settings.smtp_starttls:
                # Raises SMTPNotSupportedError when the server offers no STARTTLS: no downgrade.
                smtp.starttls(context=tls_context(settings))
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message)


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificate and host name checked, against SMTP_CA_FILE or the system's CAs."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file)


def readable(message: EmailMessage) -> str:
    """Headers and the plain-text part, decoded, so a developer can click the links in it."""
    headers = "".join(
        f"{name}: {value}\n"
        for name, value in message.items()
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version")
    )
    body = message.get_body(("plain",))
    return headers + "\n" + (body.get_content() if body is not None else "")
