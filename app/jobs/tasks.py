"""Housekeeping of jobs, run by beat: the stuck-job reaper and retention."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from app.core.extensions import utcnow
from app.core.settings import current_settings
from app.jobs.service import purge_finished, reap_stuck

log = logging.getLogger(__name__)


@shared_task
def reap_stuck_jobs() -> int:
    """Jobs STARTED longer than the task time limit are sent again or failed."""
    return reap_stuck(current_settings().celery_task_time_limit)


@shared_task
def purge_finished_jobs() -> int:
    """Delete jobs that finished more than JOB_RETENTION_DAYS ago."""
    days = current_settings().job_retention_days
    removed = purge_finished(utcnow() - timedelta(days=days))
    log.info("purged %s jobs finished more than %s days ago", removed, days)
    return removed
