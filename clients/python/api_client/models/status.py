from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.status_checks import StatusChecks


T = TypeVar("T", bound="Status")


@_attrs_define
class Status:
    """
    Attributes:
        status (str): ok, or degraded when an optional check fails
        checks (StatusChecks | Unset): The checks that failed, by name (only when degraded)
    """

    status: str
    checks: StatusChecks | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        status = self.status

        checks: dict[str, Any] | Unset = UNSET
        if not isinstance(self.checks, Unset):
            checks = self.checks.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "status": status,
            }
        )
        if checks is not UNSET:
            field_dict["checks"] = checks

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.status_checks import StatusChecks  # noqa: PLC0415

        d = dict(src_dict)
        status = d.pop("status")

        _checks = d.pop("checks", UNSET)
        checks: StatusChecks | Unset
        if isinstance(_checks, Unset):
            checks = UNSET
        else:
            checks = StatusChecks.from_dict(_checks)

        status = cls(
            status=status,
            checks=checks,
        )

        return status
