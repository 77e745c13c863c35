"""Background work for accounts: the mails they receive, and token housekeeping."""

from __future__ import annotations

import logging
import secrets
import smtplib
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy import delete, select, update

from app.auth import emails
from app.auth.models import (
    EmailToken,
    EmailTokenPurpose,
    RefreshToken,
    TokenFamily,
    User,
    token_digest,
)
from app.core.extensions import db, utcnow
from app.core.mail import send_mail
from app.core.rate_limits import mail_cap_allows
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


def deliver(task: Task[Any, Any], message: EmailMessage, what: str) -> None:
    """Send ``message``; when the mail server fails, retry ``task`` later with backoff."""
    try:
        send_mail(message)
    except (smtplib.SMTPException, OSError) as error:
        if task.request.retries >= MAX_EMAIL_RETRIES:
            log.error("%s failed after %s retries: %s", what, task.request.retries, error)
            raise
        countdown = retry_countdown(task.request.retries)
        log.warning("%s failed (%s); retrying in %ss", what, error, countdown)
        raise task.retry(exc=error, countdown=countdown) from error


def within_mail_cap(task: Task[Any, Any], user: User) -> bool:
    """Whether this mail may go: mails that anyone can ask for are capped per address and hour
    (MAIL_PER_ADDRESS_PER_HOUR). A retry of a mail that was counted is not counted again.

    Past the cap the task ends quietly: the request that queued it answered like any other.
    """
    return task.request.retries > 0 or mail_cap_allows(user.email, f"user {user.id}")


def issue_email_token(user: User, purpose: EmailTokenPurpose, key: str) -> str | None:
    """A new link token for ``user`` that voids their earlier ones of this purpose.

    ``key`` names the request that asked for it: when its token was already mailed or voided
    (the task runs again), there is nothing to do and the answer is None. Only the token's
    hash is stored; the caller commits before mailing the token, so the link works on arrival.
    """
    row = db.session.get(EmailToken, key)
    if row is not None and (row.sent_at is not None or row.voided_at is not None):
        return None
    # Lock the account, so two requests at once still leave one live token.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    now = utcnow()
    db.session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == purpose)
        .where(EmailToken.id != key, EmailToken.voided_at.is_(None))
        .values(voided_at=now)
    )
    token = secrets.token_urlsafe(32)  # 256 bits
    if row is None:
        row = EmailToken(id=key, user_id=user.id, purpose=purpose)
        db.session.add(row)
    row.token_hash = token_digest(token)
    row.created_at = now
    row.expires_at = now + current_settings().email_token_lifetime
    return token


def mail_link(
    task: Task[Any, Any],
    user: User,
    purpose: EmailTokenPurpose,
    key: str,
    compose: Callable[[User, str], EmailMessage],
) -> bool:
    """Issue a token for request ``key`` and mail it, once however often the task runs."""
    token = issue_email_token(user, purpose, key)
    if token is None:
        return False
    message = compose(user, token)
    user_id = user.id
    db.session.commit()
    deliver(task, message, f"{purpose.value} mail to user {user_id}")
    db.session.execute(update(EmailToken).where(EmailToken.id == key).values(sent_at=utcnow()))
    db.session.commit()
    log.info("%s mail sent to user %s", purpose.value, user_id)
    return True


@shared_task(bind=True, max_retries=MAX_EMAIL_RETRIES)
def send_welcome_email(self: Task[Any, Any], user_id: int) -> bool:
    """Welcome a new user once: a second run (redelivery, retry) sends nothing more.

    The welcome carries the link that verifies the address, so a sign-up makes one mail.
    """
    user = db.session.get(User, user_id)
    if user is None or user.welcomed_at is not None or not within_mail_cap(self, user):
        return False
    # A retry issues a fresh token, voiding this one: only the mail that leaves matters.
    key = str(uuid.uuid4())
    token = None
    if user.email_verified_at is None:
        token = issue_email_token(user, EmailTokenPurpose.EMAIL_VERIFICATION, key)
    message = emails.welcome(user, token)
    db.session.commit()
    deliver(self, message, f"welcome email to user {user_id}")
    user.welcomed_at = utcnow()
    db.session.execute(update(EmailToken).where(EmailToken.id == key).values(sent_at=utcnow()))
    db.session.commit()
    log.info("welcome email sent to user %s", user_id)
    return True


@shared_task(bind=True, max_retries=MAX_EMAIL_RETRIES)
def send_password_reset(self: Task[Any, Any], email: str, request_key: str) -> bool:
    """Mail a reset link to the active account of ``email``, if there is one.

    The request only queued this task, so whether the account exists costs the request
    nothing it could be timed by.
    """
    user = db.session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
    if user is None or not within_mail_cap(self, user):
        return False
    return mail_link(
        self, user, EmailTokenPurpose.PASSWORD_RESET, request_key, emails.password_reset
    )


@shared_task(bind=True, max_retries=MAX_EMAIL_RETRIES)
def send_signup_attempt_notice(self: Task[Any, Any], email: str) -> bool:
    """Tell the active account of ``email``, if there is one, that someone tried to sign up
    with its address; the one who tried is answered as if the address were new.

    It issues nothing, so a redelivered task at worst repeats a harmless notice.
    """
    user = db.session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
    if user is None or not within_mail_cap(self, user):
        return False
    deliver(self, emails.signup_attempt(user), f"sign-up attempt notice to user {user.id}")
    log.info("sign-up attempt notice sent to user %s", user.id)
    return True


@shared_task(bind=True, max_retries=MAX_EMAIL_RETRIES)
def send_email_verification(self: Task[Any, Any], user_id: int, request_key: str) -> bool:
    """Mail a new link that verifies the account's address, unless it is verified already."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or user.email_verified_at is not None:
        return False
    if not within_mail_cap(self, user):
        return False
    return mail_link(
        self, user, EmailTokenPurpose.EMAIL_VERIFICATION, request_key, emails.email_verification
    )


@shared_task
def purge_expired_tokens() -> int:
    """Beat runs the purge periodically."""
    return purge_expired_token_records()


def purge_expired_token_records() -> int:
    """Delete token records nothing can present any more (also ``flask auth purge-tokens``).

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
        delete(EmailToken).where(EmailToken.expires_at < now),
    ):
        result = db.session.execute(statement)
        removed += result.rowcount or 0  # type: ignore[attr-defined]
    db.session.commit()
    log.info("purged %s expired token records", removed)
    return removed
