"""The wire format of a background job."""

from __future__ import annotations

import marshmallow as ma

from app.core.compiled_dump import CompiledDumpSchema
from app.jobs.models import JobState


class JobSchema(CompiledDumpSchema):
    """A job as the API returns it: every field is always there (null when not set)."""

    id = ma.fields.String(required=True, metadata={"format": "uuid"})
    kind = ma.fields.String(required=True)
    state = ma.fields.Enum(JobState, by_value=True, required=True)
    result = ma.fields.Raw(
        required=True, allow_none=True, metadata={"description": "Set on SUCCESS"}
    )
    error = ma.fields.String(
        required=True, allow_none=True, metadata={"description": "Set on FAILURE"}
    )
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)
