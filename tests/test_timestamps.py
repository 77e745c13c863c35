"""Timestamps read back exactly as written, to the microsecond, as aware UTC, on every database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from app.core.extensions import db
from app.core.releases import Release


def stored(ran_at: datetime) -> datetime:
    """Write a row with ``ran_at``; its value as read again from the database."""
    release = Release(release="test", revision="test", ran_by="test", ran_at=ran_at)
    db.session.add(release)
    db.session.commit()
    release_id = release.id
    db.session.expunge_all()  # read from the database, not from the object just written
    return db.session.scalars(select(Release.ran_at).where(Release.id == release_id)).one()


def test_a_timestamp_keeps_its_microseconds(app: Flask) -> None:
    written = datetime(2026, 12, 2, 17, 30, 5, 123456, tzinfo=UTC)
    with app.app_context():
        assert stored(written) == written


def test_a_timestamp_in_another_zone_is_stored_as_the_same_instant_in_utc(app: Flask) -> None:
    written = datetime(2026, 12, 2, 19, 30, 5, 250000, tzinfo=timezone(timedelta(hours=2)))
    with app.app_context():
        read = stored(written)
    assert read == written
    assert read.tzinfo is UTC
    assert read.hour == 17


def test_a_naive_timestamp_is_refused_before_it_reaches_the_database(app: Flask) -> None:
    with app.app_context(), pytest.raises(StatementError, match="naive datetimes"):
        stored(datetime(2026, 12, 2, 17, 30))  # noqa: DTZ001 - the mistake under test
