from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="Version")


@_attrs_define
class Version:
    """
    Attributes:
        release (str): Release id
        version (str): Application version
        python (str):
    """

    release: str
    version: str
    python: str

    def to_dict(self) -> dict[str, Any]:
        release = self.release

        version = self.version

        python = self.python

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "release": release,
                "version": version,
                "python": python,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        release = d.pop("release")

        version = d.pop("version")

        python = d.pop("python")

        version = cls(
            release=release,
            version=version,
            python=python,
        )

        return version
