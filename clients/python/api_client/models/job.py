from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.job_state import JobState

T = TypeVar("T", bound="Job")


@_attrs_define
class Job:
    """
    Attributes:
        id (UUID):
        kind (str):
        state (JobState):
        result (Any): Set on SUCCESS
        error (None | str): Set on FAILURE
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
    """

    id: UUID
    kind: str
    state: JobState
    result: Any
    error: None | str
    created_at: datetime.datetime
    updated_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        kind = self.kind

        state = self.state.value

        result = self.result

        error: None | str
        error = self.error

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "state": state,
                "result": result,
                "error": error,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        kind = d.pop("kind")

        state = JobState(d.pop("state"))

        result = d.pop("result")

        def _parse_error(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        error = _parse_error(d.pop("error"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        job = cls(
            id=id,
            kind=kind,
            state=state,
            result=result,
            error=error,
            created_at=created_at,
            updated_at=updated_at,
        )

        return job
