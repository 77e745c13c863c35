"""HTTP for following a background job."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.auth.access import current_user, login_required
from app.jobs.models import Job
from app.jobs.schemas import JobSchema
from app.jobs.service import job_for

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Background jobs")


@blp.route("/<string(length=36):job_id>")
class TaskStatus(MethodView):
    @login_required(blp)
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, job_id: str) -> Job:
        """The state of one of your jobs, and its result once it has succeeded."""
        return job_for(current_user(), job_id)
