"""Users, and the state that makes tokens revocable across any number of processes."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Base, TimestampMixin, UTCDateTime, utcnow


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=Role.USER,
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    welcomed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class EmailTokenPurpose(enum.StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a password
    EMAIL_VERIFICATION = "email_verification"


def token_digest(token: str) -> str:
    """What is stored of a mailed token. The token is random, so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class EmailToken(Base):
    """A link sent by mail (password reset, email verification); only its hash is stored.

    ``id`` is the key of the request that asked for it, so a task that runs twice finds the
    row it wrote and sends nothing more. A user has at most one live token per purpose:
    issuing one voids the others, and so does using it or changing the password.
    """

    __tablename__ = "email_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[EmailTokenPurpose] = mapped_column(
        Enum(
            EmailTokenPurpose,
            native_enum=False,
            length=32,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TokenFamily(Base):
    """One sign-in: every refresh token rotated from one login, and the access tokens they mint.

    Every token names its family, and every request checks it, so revoking the family
    (logout, a spent refresh token presented again, a new password, a deactivated account)
    ends the sign-in everywhere at once, its access tokens included. ``expires_at`` is when its
    latest refresh token expires; after that the row is only history, and is purged.
    """

    __tablename__ = "token_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    """Each refresh token works once: ``spent_at`` is set when it is rotated.

    A spent row is kept while its token could still be presented (reuse detection), then
    purged.
    """

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    family_id: Mapped[str] = mapped_column(
        ForeignKey("token_families.id", ondelete="CASCADE"), index=True
    )
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    family: Mapped[TokenFamily] = relationship()
