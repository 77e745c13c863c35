from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.account_update_role import AccountUpdateRole
from ..types import UNSET, Unset

T = TypeVar("T", bound="AccountUpdate")


@_attrs_define
class AccountUpdate:
    """
    Attributes:
        role (AccountUpdateRole | Unset):
        is_active (bool | Unset):
    """

    role: AccountUpdateRole | Unset = UNSET
    is_active: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        role: str | Unset = UNSET
        if not isinstance(self.role, Unset):
            role = self.role.value

        is_active = self.is_active

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if role is not UNSET:
            field_dict["role"] = role
        if is_active is not UNSET:
            field_dict["is_active"] = is_active

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _role = d.pop("role", UNSET)
        role: AccountUpdateRole | Unset
        if isinstance(_role, Unset):
            role = UNSET
        else:
            role = AccountUpdateRole(_role)

        is_active = d.pop("is_active", UNSET)

        account_update = cls(
            role=role,
            is_active=is_active,
        )

        return account_update
