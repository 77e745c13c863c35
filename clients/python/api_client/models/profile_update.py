from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.password_change import PasswordChange


T = TypeVar("T", bound="ProfileUpdate")


@_attrs_define
class ProfileUpdate:
    """
    Attributes:
        name (str | Unset):
        password (PasswordChange | Unset):
    """

    name: str | Unset = UNSET
    password: PasswordChange | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        password: dict[str, Any] | Unset = UNSET
        if not isinstance(self.password, Unset):
            password = self.password.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if name is not UNSET:
            field_dict["name"] = name
        if password is not UNSET:
            field_dict["password"] = password

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.password_change import PasswordChange  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name", UNSET)

        _password = d.pop("password", UNSET)
        password: PasswordChange | Unset
        if isinstance(_password, Unset):
            password = UNSET
        else:
            password = PasswordChange.from_dict(_password)

        profile_update = cls(
            name=name,
            password=password,
        )

        return profile_update
