"""The wire format of a background job."""

from __future__ import annotations

import marshmallow as ma

from app.core.compiled_dump import CompiledDumpSchema
from app.jobs.models import JobState


class JobSchema(CompiledDumpSchema):
    id = ma.fields.String(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    state = ma.fields.Enum(JobState, by_value=True, dump_only=True)
    result = ma.fields.Raw(
        dump_only=True, allow_none=True, metadata={"description": "Set on SUCCESS"}
    )
    error = ma.fields.String(
        dump_only=True, allow_none=True, metadata={"description": "Set on FAILURE"}
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
