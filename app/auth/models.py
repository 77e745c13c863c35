"""Users, and the state that makes tokens revocable across any number of processes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Base, TimestampMixin, UTCDateTime


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

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


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
