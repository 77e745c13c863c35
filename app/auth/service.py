"""Accounts, passwords and the token lifecycle: every rule here, and each commit.

A sign-in is a *token family*. Refresh tokens rotate inside it and each works once; a spent
one presented again means it was stolen, so the whole family is revoked (OAuth 2.0 Security
BCP). A sign-in lasts at most SESSION_MAX_AGE from its login (the ``auth_time`` claim),
however often it is refreshed. All revocation state is in the database, so every web process
agrees.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_smorest import abort
from sqlalchemy import Select, bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import (
    EmailToken,
    EmailTokenPurpose,
    RefreshToken,
    Role,
    TokenFamily,
    User,
    token_digest,
)
from app.auth.tasks import (
    send_email_verification,
    send_password_reset,
    send_signup_attempt_notice,
    send_welcome_email,
)
from app.auth.tokens import InvalidToken, issue, verify
from app.core.background import enqueue_after_commit
from app.core.extensions import db, utcnow
from app.core.settings import current_settings

log = logging.getLogger(__name__)

# OWASP Password Storage Cheat Sheet's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# APP_ENV=test only, as cookiecutter-django's test settings swap in a fast hasher: argon2's
# cheapest parameters (8 KiB, 1 iteration), so a suite that signs up hundreds of users does
# not pay the full cost each time. Any other environment upgrades such a hash at the next
# login (see _rehash_if_outdated).
TEST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


# --- passwords ---------------------------------------------------------------------------


def password_hasher() -> PasswordHasher:
    """The hasher of the current app's environment (APP_ENV)."""
    return TEST_PASSWORD_HASHER if current_settings().app_env == "test" else PASSWORD_HASHER


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("a password no account has")


def password_matches(user: User | None, password: str) -> bool:
    """Verify in constant work whether or not the user exists, so emails cannot be probed."""
    hasher = password_hasher()
    try:
        return hasher.verify(user.password_hash if user else _dummy_hash(hasher), password)
    except (VerificationError, InvalidHashError):
        return False


def _rehash_if_outdated(user: User, password: str) -> None:
    if password_hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)


# --- accounts ----------------------------------------------------------------------------


def account_exists(email: str) -> bool:
    return bool(db.session.scalar(select(exists().where(User.email == email))))


def sign_up(email: str, password: str, name: str) -> None:
    """Create the account, or, when the address has one, tell its owner that someone tried.

    Both cases look and cost the same to the caller, so sign-up cannot be used to learn
    whether an address has an account (OWASP Authentication Cheat Sheet): the password is
    hashed either way, one mail is queued either way, and the answer says only that a mail
    is on its way. The mailbox's owner is the one who learns which it was.
    """
    password_hash = hash_password(password)  # also for a taken address: it costs the same
    if not account_exists(email):
        user = User(email=email, name=name, password_hash=password_hash)
        db.session.add(user)
        try:
            db.session.flush()  # assigns the id; a concurrent sign-up with this email fails here
        except IntegrityError:
            db.session.rollback()  # the other sign-up won: this one is an attempt on its account
        else:
            enqueue_after_commit(send_welcome_email, user.id)
            db.session.commit()
            return
    enqueue_after_commit(send_signup_attempt_notice, email)
    db.session.commit()


def update_profile(user: User, changes: dict[str, Any], family_id: str) -> User:
    if "password" in changes:
        if not password_matches(user, changes["password"]["current"]):
            abort(
                403,
                message="The current password is not correct.",
                errors={"json": {"password": {"current": ["Not correct."]}}},
            )
        user.password_hash = hash_password(changes["password"]["new"])
        # A new password ends every other sign-in, and voids any reset link; this one stays.
        _revoke_families(TokenFamily.user_id == user.id, TokenFamily.id != family_id)
        void_email_tokens(user.id, EmailTokenPurpose.PASSWORD_RESET)
    if "name" in changes:
        user.name = changes["name"]
    db.session.commit()
    return user


def accounts_query() -> Select[Any]:
    return select(User).order_by(User.id)


def update_account(user_id: int, changes: dict[str, Any]) -> User:
    user = db.session.get(User, user_id) or abort(404, message="No such user.")
    for field in ("role", "is_active"):
        if field in changes:
            setattr(user, field, changes[field])
    if changes.get("is_active") is False:
        # Every sign-in ends for good: reactivating the account later does not revive them.
        _revoke_families(TokenFamily.user_id == user.id)
    db.session.commit()
    return user


def create_admin(email: str, password: str | None) -> tuple[User, bool]:
    """Promote ``email`` to admin, creating the account when it is new. Returns (user, created)."""
    user = db.session.scalar(select(User).where(User.email == email))
    created = user is None
    if user is None:
        if password is None:
            raise ValueError("a password is needed to create a new account")
        user = User(email=email, name=email.split("@")[0], password_hash=hash_password(password))
        db.session.add(user)
    user.role = Role.ADMIN
    user.is_active = True
    # The operator vouches for the address, so REQUIRE_VERIFIED_EMAIL never locks them out.
    user.email_verified_at = user.email_verified_at or utcnow()
    db.session.commit()
    return user, created


# --- links sent by mail: password reset, email verification ------------------------------

INVALID_LINK = "This link is not valid: it is wrong, expired or already used. Ask for a new one."
UNVERIFIED_EMAIL = (
    "Your email address is not verified yet. We have sent a new verification link to it: "
    "follow the link, then sign in again."
)


def request_password_reset(email: str) -> None:
    """Queue the mail with a reset link. Known and unknown addresses cost the request the
    same: it looks nothing up and hashes nothing; the task finds the account, if any."""
    enqueue_after_commit(send_password_reset, email, str(uuid.uuid4()))
    db.session.commit()


def reset_password(token: str, password: str) -> None:
    """Set a new password with a reset link's token, and end every sign-in of the account."""
    user = _redeem(token, EmailTokenPurpose.PASSWORD_RESET)
    user.password_hash = hash_password(password)
    # Following the link proved that the mailbox is theirs.
    user.email_verified_at = user.email_verified_at or utcnow()
    _revoke_families(TokenFamily.user_id == user.id)
    void_email_tokens(user.id, EmailTokenPurpose.PASSWORD_RESET)
    db.session.commit()


def verify_email(token: str) -> None:
    user = _redeem(token, EmailTokenPurpose.EMAIL_VERIFICATION)
    user.email_verified_at = user.email_verified_at or utcnow()
    db.session.commit()


def resend_verification(user: User) -> None:
    if user.email_verified_at is not None:
        abort(409, message="This email address is verified already.")
    enqueue_after_commit(send_email_verification, user.id, str(uuid.uuid4()))
    db.session.commit()


def void_email_tokens(user_id: int, purpose: EmailTokenPurpose) -> None:
    db.session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user_id, EmailToken.purpose == purpose)
        .where(EmailToken.voided_at.is_(None))
        .values(voided_at=utcnow())
    )


def _redeem(token: str, purpose: EmailTokenPurpose) -> User:
    """Spend a live token and return its active account; a token is spent once, even when
    raced, because spending is one conditional UPDATE.

    Wrong, expired, spent and voided tokens get the same answer, which says none of it.
    """
    digest = token_digest(token)
    now = utcnow()
    spent = db.session.execute(
        update(EmailToken)
        .where(EmailToken.token_hash == digest, EmailToken.purpose == purpose)
        .where(EmailToken.voided_at.is_(None), EmailToken.expires_at > now)
        .values(voided_at=now)
    )
    if spent.rowcount == 1:  # type: ignore[attr-defined]
        user = db.session.scalar(
            select(User).join(EmailToken).where(EmailToken.token_hash == digest)
        )
        if user is not None and user.is_active:
            return user
    abort(400, message=INVALID_LINK)
    raise AssertionError("abort returned")  # pragma: no cover - abort always raises


# --- tokens ------------------------------------------------------------------------------


def _revoke_families(*conditions: Any) -> None:
    db.session.execute(
        update(TokenFamily)
        .where(*conditions, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _issue_pair(user: User, family: TokenFamily, auth_time: int) -> TokenPair:
    """A new access and refresh token; neither outlives the sign-in (SESSION_MAX_AGE)."""
    settings = current_settings()
    now = utcnow()
    session_end = datetime.fromtimestamp(auth_time, UTC) + settings.session_lifetime
    access_lifetime = min(settings.access_token_lifetime, session_end - now)
    refresh_lifetime = min(settings.refresh_token_lifetime, session_end - now)
    refresh_jti = str(uuid.uuid4())
    family.expires_at = now + refresh_lifetime
    db.session.add(RefreshToken(jti=refresh_jti, family=family))
    claims = {"role": user.role.value, "fam": family.id, "auth_time": auth_time}
    return TokenPair(
        access_token=issue(str(user.id), "access", claims, access_lifetime),
        refresh_token=issue(
            str(user.id), "refresh", {**claims, "jti": refresh_jti}, refresh_lifetime
        ),
        expires_in=int(access_lifetime.total_seconds()),
    )


def log_in(email: str, password: str) -> TokenPair | None:
    """A new sign-in for valid credentials of an active account; None otherwise."""
    email = email.strip().lower()
    # No account has a NUL in its email, and PostgreSQL refuses one even in a query.
    user = None if "\x00" in email else db.session.scalar(select(User).where(User.email == email))
    if not password_matches(user, password) or user is None or not user.is_active:
        return None
    if current_settings().require_verified_email and user.email_verified_at is None:
        # Only someone with the password learns this, and the way out comes with it.
        enqueue_after_commit(send_email_verification, user.id, str(uuid.uuid4()))
        db.session.commit()
        abort(403, message=UNVERIFIED_EMAIL)
    _rehash_if_outdated(user, password)
    family = TokenFamily(id=str(uuid.uuid4()), user_id=user.id)
    db.session.add(family)
    pair = _issue_pair(user, family, auth_time=int(utcnow().timestamp()))
    db.session.commit()
    return pair


def rotate(refresh_token: str) -> TokenPair:
    """Spend a refresh token for a new pair in the same family; a reused one ends the family.

    Spending is one conditional UPDATE, the transaction's first statement: of any number of
    racing copies the database lets exactly one match, and the others count as reuse. Being
    first, it also takes SQLite's write lock before any read, so a racing copy waits for the
    lock (busy_timeout) instead of failing on a stale snapshot.
    """
    claims = verify(refresh_token, "refresh")
    # Tokens issued before sign-ins had an auth_time are dated from their own issue.
    auth_time = int(claims.get("auth_time", claims["iat"]))
    session_age = utcnow().timestamp() - auth_time
    if session_age >= current_settings().session_max_age:
        raise InvalidToken("this sign-in is too old to refresh; sign in again")
    spent = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == claims["jti"], RefreshToken.spent_at.is_(None))
        .values(spent_at=utcnow())
    )
    row = db.session.execute(
        select(TokenFamily, User)
        .join(RefreshToken, RefreshToken.family_id == TokenFamily.id)
        .join(User, TokenFamily.user_id == User.id)
        .where(RefreshToken.jti == claims["jti"])
    ).one_or_none()
    if row is None:
        raise InvalidToken("unknown refresh token")
    family, user = row
    if family.revoked_at is not None or not user.is_active:
        raise InvalidToken("this sign-in has ended")
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        family.revoked_at = utcnow()
        db.session.commit()
        log.warning("refresh token reused; sign-in revoked", extra={"user.id": str(user.id)})
        raise InvalidToken("refresh token reuse detected; sign in again")
    pair = _issue_pair(user, family, auth_time)
    db.session.commit()
    return pair


def log_out(access_claims: dict[str, Any]) -> None:
    """End the sign-in: its access tokens fail at once, because each request checks the family."""
    _revoke_families(TokenFamily.id == access_claims["fam"])
    db.session.commit()


# Every authenticated request runs this query, so it is built once: building a statement and
# its cache key per request costs more CPU than the rest of the query's Python side.
USER_FOR_ACCESS_TOKEN = (
    select(User)
    .join(TokenFamily, TokenFamily.user_id == User.id)
    .where(
        User.id == bindparam("user_id"),
        User.is_active.is_(True),
        TokenFamily.id == bindparam("family_id"),
        TokenFamily.revoked_at.is_(None),
    )
)


def user_for_access_token(claims: dict[str, Any]) -> User | None:
    """The active user an unrevoked access token speaks for, in one query; None otherwise."""
    return db.session.scalar(
        USER_FOR_ACCESS_TOKEN,
        {"user_id": int(claims["sub"]), "family_id": claims.get("fam")},
    )
