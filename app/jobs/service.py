"""Starting background jobs for a user, running them once, and showing them only to their owner."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from flask_smorest import abort
from sqlalchemy import select

from app.auth.models import User
from app.core.background import enqueue_after_commit
from app.core.extensions import db
from app.jobs.models import Job, JobState

log = logging.getLogger(__name__)

ERROR_LENGTH = 500


def start_job(owner: User, kind: str, task: Task[Any, Any], params: dict[str, Any]) -> Job:
    """Record the job, then hand it to the worker once the record is committed."""
    job = Job(id=str(uuid.uuid4()), owner_id=owner.id, kind=kind, params=params)
    db.session.add(job)
    enqueue_after_commit(task, job.id)
    db.session.commit()
    return job


def job_for(owner: User, job_id: str) -> Job:
    """The owner's job; anyone else's is a 404, so its existence does not leak."""
    job = db.session.scalar(select(Job).where(Job.id == job_id, Job.owner_id == owner.id))
    return job or abort(404, message="No such task.")


def run_job(job_id: str, work: Callable[[Job], Any]) -> None:
    """Run ``work`` for a job at most once to success; a redelivered finished job is skipped."""
    job = db.session.get(Job, job_id)
    if job is None or job.state is JobState.SUCCESS:
        log.info("job %s is gone or already done; nothing to do", job_id)
        return
    job.state = JobState.STARTED
    db.session.commit()
    try:
        result = work(job)
    except Exception as error:
        db.session.rollback()
        job.state = JobState.FAILURE
        job.error = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
        db.session.commit()
        log.exception("job %s failed", job_id)
        raise
    job.state = JobState.SUCCESS
    job.result = result
    job.error = None
    db.session.commit()
