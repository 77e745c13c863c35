"""The wire format of users and tokens."""

from __future__ import annotations

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


class SignupSchema(ma.Schema):
    email = EmailField(required=True, metadata={"example": "ada@example.com"})
    password = ma.fields.String(required=True, load_only=True, validate=PASSWORD_LENGTH)
    name = TrimmedString(required=True, validate=ma.validate.Length(min=1, max=100))


class LoginSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(max=320))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=128))


class PasswordResetRequestSchema(ma.Schema):
    email = EmailField(required=True, metadata={"example": "ada@example.com"})


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
    refresh_token = ma.fields.String(required=True, load_only=True)


class TokenRequestSchema(ma.Schema):
    """OAuth2 password grant (RFC 6749 §4.3). Checked by the view, so errors follow §5.2."""

    class Meta:
        unknown = ma.EXCLUDE

    grant_type = ma.fields.String(load_default=None, metadata={"example": "password"})
    username = ma.fields.String(load_default=None, metadata={"description": "The email"})
    password = ma.fields.String(load_default=None)
    scope = ma.fields.String(load_default=None)


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
    id = ma.fields.Integer(dump_only=True)
    email = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    role = ma.fields.Enum(Role, by_value=True, dump_only=True)
    is_active = ma.fields.Boolean(dump_only=True)
    email_verified_at = ma.fields.AwareDateTime(
        dump_only=True, allow_none=True, metadata={"description": "null until verified"}
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


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
