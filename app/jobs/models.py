"""A background job a user started: who owns it and how it went, kept in the database.

Access checks read this row, never the Celery result backend, so they hold whatever broker
or backend a deployment uses.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.extensions import Base, TimestampMixin, UTCDateTime


class JobState(enum.StrEnum):
    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class Job(TimestampMixin, Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # also the Celery task id
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(
        Enum(
            JobState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
        ),
        default=JobState.PENDING,
        index=True,  # the reaper looks for STARTED jobs
    )
    result: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(500))  # a message safe to show the user
    # How many times a worker has started it; each finish compares it, so the run that the
    # reaper gave up on cannot overwrite the run that replaced it.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
