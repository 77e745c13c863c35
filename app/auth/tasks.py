"""Background work for accounts: the welcome email and token housekeeping."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy import delete

from app.auth.models import RefreshToken, TokenFamily, User
from app.core import project
from app.core.extensions import db, utcnow
from app.core.mail import send_mail
from app.core.settings import current_settings

log = logging.getLogger(__name__)

MAX_EMAIL_RETRIES = 5
RETRY_BACKOFF_BASE = 2  # seconds; doubled per retry, with full jitter
RETRY_BACKOFF_MAX = 600


def retry_countdown(retries: int) -> int:
    """Exponential backoff with full jitter, so many failing tasks do not retry in lockstep."""
    return int(
        get_exponential_backoff_interval(
            RETRY_BACKOFF_BASE, retries, RETRY_BACKOFF_MAX, full_jitter=True
        )
    )


@shared_task(bind=True, max_retries=MAX_EMAIL_RETRIES)
def send_welcome_email(self: Task[Any, Any], user_id: int) -> bool:
    """Welcome a new user once: a second run (redelivery, retry) sends nothing more."""
    user = db.session.get(User, user_id)
    if user is None or user.welcomed_at is not None:
        return False
    message = EmailMessage()
    message["To"] = user.email
    message["Subject"] = f"Welcome to {project.NAME}"
    message.set_content(f"Hello {user.name},\n\nyour account is ready. Welcome aboard!\n")
    try:
        send_mail(message)
    except (smtplib.SMTPException, OSError) as error:
        if self.request.retries >= MAX_EMAIL_RETRIES:
            log.error(
                "welcome email to user %s failed after %s retries: %s",
                user_id,
                self.request.retries,
                error,
            )
            raise
        countdown = retry_countdown(self.request.retries)
        log.warning(
            "welcome email to user %s failed (%s); retrying in %ss", user_id, error, countdown
        )
        raise self.retry(exc=error, countdown=countdown) from error
    user.welcomed_at = utcnow()
    db.session.commit()
    log.info("welcome email sent to user %s", user_id)
    return True


@shared_task
def purge_expired_tokens() -> int:
    """Delete token records nothing can present any more (beat runs this periodically).

    That is every family past its last refresh token's expiry (its refresh tokens go with it),
    and every spent refresh token issued longer than a refresh lifetime ago: the token has
    expired, so reuse detection no longer needs its row. Returns how many were removed;
    running it twice removes nothing more.
    """
    now = utcnow()
    # A token is spent after it was issued, so spent this long ago it has certainly expired.
    spent_before = now - current_settings().refresh_token_lifetime
    removed = 0
    for statement in (
        delete(RefreshToken).where(RefreshToken.spent_at < spent_before),
        delete(TokenFamily).where(TokenFamily.expires_at < now),
    ):
        result = db.session.execute(statement)
        removed += result.rowcount or 0  # type: ignore[attr-defined]
    db.session.commit()
    log.info("purged %s expired token records", removed)
    return removed
