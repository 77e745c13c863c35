"""Jobs never stick: a job left STARTED is sent again or failed, a failed job shows a message
safe for its user, and beat purges what is past JOB_RETENTION_DAYS."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import create_app
from app.core.extensions import db, utcnow
from app.core.outbox import OutboxMessage, Publisher, relay_due, write_message
from app.jobs.models import Job, JobState
from app.jobs.service import JOB_FAILED, JOB_TIMED_OUT, MAX_ATTEMPTS, finish, run_job
from tests.conftest import Account, SignUp, make_settings

EXPORT_TASK = "app.books.tasks.export_books"


def export(client: FlaskClient, account: Account) -> str:
    started = client.post("/api/v1/books/exports", json={"format": "json"}, headers=account.headers)
    assert started.status_code == 202
    return str(started.get_json()["id"])


def job_seen_by(client: FlaskClient, account: Account, job_id: str) -> dict[str, object]:
    response = client.get(f"/api/v1/tasks/{job_id}", headers=account.headers)
    assert response.status_code == 200
    return dict(response.get_json())


def left_started(app: Flask, job_id: str, minutes_ago: int, attempts: int = 1) -> None:
    """As a worker killed hard mid-task leaves it."""
    with app.app_context():
        db.session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state=JobState.STARTED,
                attempts=attempts,
                started_at=utcnow() - timedelta(minutes=minutes_ago),
                result=None,
            )
        )
        db.session.commit()


def run_beat_task(app: Flask, name: str) -> object:
    """Run a periodic task as a worker would (the worker imports every task module)."""
    app.extensions["celery"].loader.import_default_modules()
    return app.extensions["celery"].tasks[name].apply().get()


def relay(app: Flask) -> None:
    with app.app_context():
        relay_due(Publisher(app.extensions["celery"]))


def test_a_job_stuck_in_started_is_sent_again_and_finishes(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    job_id = export(client, account)
    left_started(app, job_id, minutes_ago=10)  # the default time limit is 5 minutes

    assert run_beat_task(app, "app.jobs.tasks.reap_stuck_jobs") == 1
    assert job_seen_by(client, account, job_id)["state"] == "PENDING"
    relay(app)  # the relay publishes the message the reaper wrote

    job = job_seen_by(client, account, job_id)
    assert job["state"] == "SUCCESS"
    assert job["result"] == {"format": "json", "count": 0, "books": []}
    with app.app_context():
        assert db.session.scalar(select(Job.attempts).where(Job.id == job_id)) == 2


def test_a_job_still_within_its_time_limit_is_left_running(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    job_id = export(client, account)
    left_started(app, job_id, minutes_ago=1)
    assert run_beat_task(app, "app.jobs.tasks.reap_stuck_jobs") == 0
    assert job_seen_by(client, account, job_id)["state"] == "STARTED"


def test_a_job_that_keeps_getting_stuck_fails_with_a_stable_message(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    job_id = export(client, account)
    left_started(app, job_id, minutes_ago=10, attempts=MAX_ATTEMPTS)
    run_beat_task(app, "app.jobs.tasks.reap_stuck_jobs")
    job = job_seen_by(client, account, job_id)
    assert (job["state"], job["error"], job["result"]) == ("FAILURE", JOB_TIMED_OUT, None)


def test_a_run_the_reaper_gave_up_on_cannot_overwrite_its_replacement(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    job_id = export(client, account)
    left_started(app, job_id, minutes_ago=10)
    run_beat_task(app, "app.jobs.tasks.reap_stuck_jobs")
    relay(app)  # attempt 2 succeeds
    with app.app_context():
        # Attempt 1 (long thought dead) comes back and tries to record its outcome.
        finish(job_id, 1, JobState.FAILURE, error=JOB_FAILED)
    assert job_seen_by(client, account, job_id)["state"] == "SUCCESS"


def test_a_failed_job_shows_a_stable_message_and_logs_the_error(
    app: Flask, client: FlaskClient, sign_up: SignUp, caplog: pytest.LogCaptureFixture
) -> None:
    account = sign_up()
    job_id = export(client, account)
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == job_id).values(state=JobState.PENDING))
        db.session.commit()

        def broken(_job: Job) -> object:
            raise RuntimeError("connection to 10.0.0.7 refused; password=hunter2")

        with caplog.at_level(logging.ERROR):
            run_job(job_id, broken)
    job = job_seen_by(client, account, job_id)
    assert (job["state"], job["error"]) == ("FAILURE", JOB_FAILED)
    assert "hunter2" not in str(job)
    (logged,) = [r for r in caplog.records if r.getMessage() == f"job {job_id} failed"]
    assert logged.exc_info is not None
    assert "hunter2" in str(logged.exc_info[1])


def test_tasks_store_no_results_in_a_result_backend(app: Flask) -> None:
    # Job state and results live in the database; export payloads are not copied elsewhere.
    assert app.extensions["celery"].conf.task_ignore_result is True


def test_beat_purges_jobs_and_messages_past_the_retention_period(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    old_job, recent_job, old_running = (export(client, account) for _ in range(3))
    eight_days_ago = utcnow() - timedelta(days=8)
    with app.app_context():
        for job_id in (old_job, old_running):
            db.session.execute(
                update(Job).where(Job.id == job_id).values(updated_at=eight_days_ago)
            )
        db.session.execute(update(Job).where(Job.id == old_running).values(state=JobState.STARTED))
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.task_id == old_job)
            .values(sent_at=eight_days_ago)
        )
        unsent = write_message(EXPORT_TASK, [old_job], task_id=old_job, claimed=True)
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == unsent.id)
            .values(created_at=eight_days_ago)
        )
        db.session.commit()

    run_beat_task(app, "app.jobs.tasks.purge_finished_jobs")
    run_beat_task(app, "app.core.outbox.purge_sent_messages")

    assert client.get(f"/api/v1/tasks/{old_job}", headers=account.headers).status_code == 404
    assert job_seen_by(client, account, recent_job)["state"] == "SUCCESS"
    assert job_seen_by(client, account, old_running)["state"] == "STARTED"  # not finished
    with app.app_context():
        task_ids = set(db.session.scalars(select(OutboxMessage.task_id)))
        assert old_job in task_ids  # only the message never sent is left of it
        kept = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.task_id == old_job)
        ).all()
        assert [message.id for message in kept] == [unsent.id]
        assert recent_job in task_ids


@pytest.mark.no_shared_db
def test_the_reaper_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_REAPER_INTERVAL", "5")
    app = create_app(make_settings(database_url="sqlite://"))
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["reap-stuck-jobs"]["schedule"] == 5.0
    assert {"purge-finished-jobs", "purge-sent-messages"} <= set(schedule)
