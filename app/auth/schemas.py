"""The wire format of users and tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma

from app.auth.models import Role
from app.core.compiled_dump import CompiledDumpSchema
from app.core.pagination import PageSchema
from app.core.schemas import StrictBoolean, TrimmedString

PASSWORD_LENGTH = ma.validate.Length(min=8, max=128)  # NIST SP 800-63B; no composition rules


class EmailField(ma.fields.Email):
    """A syntactically valid address, normalised and lower-cased (no DNS look-up)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        # Imported on first use: only sign-up and a change of address need it, and importing
        # it costs every process about 20 ms of start-up.
        from email_validator import EmailNotValidError, validate_email

        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            # test_environment admits RFC 6761's reserved .test domain, which examples and
            # generated test data use; deliverability (DNS) is never checked.
            address = validate_email(text, check_deliverability=False, test_environment=True)
        except EmailNotValidError as error:
            raise ma.ValidationError(str(error)) from error
        return address.normalized.lower()


# RFC 5321's limit on a forward path: no deliverable address is longer.
EMAIL_LENGTH = ma.validate.Length(max=320)


class SignupSchema(ma.Schema):
    email = EmailField(
        required=True, validate=EMAIL_LENGTH, metadata={"example": "ada@example.com"}
    )
    password = ma.fields.String(required=True, load_only=True, validate=PASSWORD_LENGTH)
    name = TrimmedString(required=True, validate=ma.validate.Length(min=1, max=100))


class LoginSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=EMAIL_LENGTH)
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=128))


class PasswordResetRequestSchema(ma.Schema):
    email = EmailField(
        required=True, validate=EMAIL_LENGTH, metadata={"example": "ada@example.com"}
    )


# Tokens are 43 URL-safe characters; any other text is simply a wrong token (400).
LINK_TOKEN = ma.validate.Length(min=1, max=256)


class PasswordResetSchema(ma.Schema):
    token = ma.fields.String(
        required=True, validate=LINK_TOKEN, metadata={"description": "From the mailed link"}
    )
    password = ma.fields.String(required=True, load_only=True, validate=PASSWORD_LENGTH)


class EmailVerificationSchema(ma.Schema):
    token = ma.fields.String(
        required=True, validate=LINK_TOKEN, metadata={"description": "From the mailed link"}
    )


class AcceptedSchema(ma.Schema):
    detail = ma.fields.String(required=True, metadata={"description": "What happens next"})


class RefreshSchema(ma.Schema):
    # A JWT of this API is a few hundred characters; anything far longer is not one.
    refresh_token = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(max=4096)
    )


class TokenRequestSchema(ma.Schema):
    """OAuth2 password grant (RFC 6749 §4.3.2: grant_type, username and password required).

    A missing parameter reads as empty (§3.1: one sent without a value is treated as omitted),
    and the view answers both with §5.2's invalid_request rather than a 422 problem.
    """

    class Meta:
        unknown = ma.EXCLUDE

    grant_type = ma.fields.String(
        required=True, validate=ma.validate.Length(max=64), metadata={"example": "password"}
    )
    username = ma.fields.String(
        required=True, validate=EMAIL_LENGTH, metadata={"description": "The email"}
    )
    password = ma.fields.String(required=True, validate=ma.validate.Length(max=128))
    scope = ma.fields.String(validate=ma.validate.Length(max=1000))

    @ma.pre_load
    def omitted_as_empty(self, form: Mapping[str, Any], **_kwargs: Any) -> dict[str, Any]:
        return {"grant_type": "", "username": "", "password": "", **form}


class TokenPairSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "bearer"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds"})


class OAuthErrorSchema(ma.Schema):
    error = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(["invalid_request", "invalid_grant", "unsupported_grant_type"]),
    )
    error_description = ma.fields.String()


class UserSchema(CompiledDumpSchema):
    """A user as the API returns it: every field is always there (null when not set)."""

    id = ma.fields.Integer(required=True)
    email = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    role = ma.fields.Enum(Role, by_value=True, required=True)
    is_active = ma.fields.Boolean(required=True)
    email_verified_at = ma.fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "null until verified"}
    )
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class UserPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(UserSchema), required=True)


class PasswordChangeSchema(ma.Schema):
    current = ma.fields.String(required=True, validate=ma.validate.Length(max=128))
    new = ma.fields.String(required=True, validate=PASSWORD_LENGTH)


class ProfileUpdateSchema(ma.Schema):
    """What a user may change about themselves; a new password needs the current one."""

    name = TrimmedString(validate=ma.validate.Length(min=1, max=100))
    password = ma.fields.Nested(PasswordChangeSchema, load_only=True)


class AccountUpdateSchema(ma.Schema):
    """What an admin may change about any account."""

    role = ma.fields.Enum(Role, by_value=True)
    is_active = StrictBoolean()
