"""Outgoing mail over SMTP, configured by SMTP_URL; without it, messages go to the log."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from app.core.settings import current_settings

log = logging.getLogger(__name__)


def send_mail(message: EmailMessage) -> None:
    settings = current_settings()
    if "From" not in message:
        message["From"] = settings.mail_from
    if not settings.smtp_url:
        log.info("mail not sent (SMTP_URL is unset):\n%s", message.as_string())
        return
    url = urlsplit(settings.smtp_url)
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    port = url.port or (465 if url.scheme == "smtps" else 587)
    with smtp_class(url.hostname or "localhost", port, timeout=settings.smtp_timeout) as smtp:
        if url.scheme == "smtp" and settings.smtp_starttls:
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
