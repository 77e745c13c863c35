"""HTTP for following a background job."""

from __future__ import annotations

from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint

from app.auth.access import current_user, login_required
from app.jobs.models import Job
from app.jobs.schemas import JobSchema
from app.jobs.service import job_for

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Background jobs")


@blp.route("/<uuid:job_id>")
class TaskStatus(MethodView):
    @login_required(blp)
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, job_id: UUID) -> Job:
        """The state of one of your jobs, and its result once it has succeeded."""
        return job_for(current_user(), str(job_id))
