"""Starting background jobs for a user, running them once, and showing them only to their owner.

A job's state changes by compare-and-set, so a redelivered message (delivery is at-least-once)
changes nothing: PENDING -> STARTED only from PENDING, and a run finishes the job only while it
is still that run's. A job left STARTED past the task time limit (its worker was killed, or the
limit hit) is sent again by the reaper, or failed after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from flask_smorest import abort
from sqlalchemy import delete, func, select, update

from app.auth.models import User
from app.core.background import enqueue_after_commit
from app.core.extensions import db, utcnow
from app.core.outbox import OutboxMessage, write_message
from app.jobs.models import Job, JobState

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # starts of one job before the reaper gives up on it
REAP_GRACE = 5  # seconds past the hard time limit, by which its task has been killed
# What a user reads on a failed job: stable, and never exception text (that is in the log).
JOB_FAILED = "The job could not be completed. Try again later."
JOB_TIMED_OUT = "The job did not finish in time. Try again later."


def start_job(owner: User, kind: str, task: Task[Any, Any], params: dict[str, Any]) -> Job:
    """Record the job and its message in one commit; the job id is the Celery task id."""
    job = Job(id=str(uuid.uuid4()), owner_id=owner.id, kind=kind, params=params)
    db.session.add(job)
    enqueue_after_commit(task, job.id, task_id=job.id)
    db.session.commit()
    return job


def job_for(owner: User, job_id: str) -> Job:
    """The owner's job; anyone else's is a 404, so its existence does not leak."""
    job = db.session.scalar(select(Job).where(Job.id == job_id, Job.owner_id == owner.id))
    return job or abort(404, message="No such task.")


def run_job(job_id: str, work: Callable[[Job], Any]) -> None:
    """Run ``work`` for a PENDING job and record how it went; any other job is left alone."""
    attempt = begin(job_id)
    if attempt is None:
        log.info("job %s is not pending (gone, running or finished); nothing to do", job_id)
        return
    job = db.session.get(Job, job_id)
    if job is None:  # deleted in between (its owner was)
        return
    try:
        result = work(job)
        # End the work's reads first: SQLite refuses a write whose transaction began before
        # another process's commit, and nothing should stay open on a server database either.
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("job %s failed", job_id)
        finish(job_id, attempt, JobState.FAILURE, error=JOB_FAILED)
        return
    finish(job_id, attempt, JobState.SUCCESS, result=result)


def begin(job_id: str) -> int | None:
    """PENDING -> STARTED, only from PENDING; the attempt number, or None if not pending."""
    now = utcnow()
    started = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.PENDING)
        .values(state=JobState.STARTED, attempts=Job.attempts + 1, started_at=now, updated_at=now)
    )
    db.session.commit()
    if started.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return db.session.scalar(select(Job.attempts).where(Job.id == job_id))


def finish(
    job_id: str, attempt: int, state: JobState, *, result: Any = None, error: str | None = None
) -> None:
    """STARTED -> ``state``, only if the job is still this attempt's."""
    finished = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.STARTED, Job.attempts == attempt)
        .values(state=state, result=result, error=error, updated_at=utcnow())
    )
    db.session.commit()
    if finished.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("job %s attempt %s was taken over; its outcome is dropped", job_id, attempt)


def reap_stuck(time_limit: int) -> int:
    """Send STARTED jobs past the time limit again, or fail them after MAX_ATTEMPTS."""
    cutoff = utcnow() - timedelta(seconds=time_limit + REAP_GRACE)
    stuck = db.session.scalars(
        select(Job)
        .where(
            Job.state == JobState.STARTED,
            func.coalesce(Job.started_at, Job.updated_at) < cutoff,
        )
        .with_for_update(skip_locked=True)
    ).all()
    for job in stuck:
        message = db.session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.task_id == job.id)
            .order_by(OutboxMessage.created_at.desc())
            .limit(1)
        )
        if job.attempts >= MAX_ATTEMPTS or message is None:
            log.error("job %s stuck after %s attempts; failing it", job.id, job.attempts)
            job.state, job.error = JobState.FAILURE, JOB_TIMED_OUT
            continue
        log.warning("job %s stuck in STARTED (attempt %s); sending it again", job.id, job.attempts)
        job.state = JobState.PENDING
        # Left to the relay, which publishes it within a second.
        write_message(message.task_name, list(message.args), task_id=job.id, claimed=False)
    db.session.commit()
    return len(stuck)


def purge_finished(before: datetime) -> int:
    """Delete jobs (with their results) that finished before ``before``."""
    removed = db.session.execute(
        delete(Job).where(
            Job.state.in_([JobState.SUCCESS, JobState.FAILURE]), Job.updated_at < before
        )
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return int(removed or 0)
