"""HTTP for sign-up, sign-in, tokens and accounts. Each view parses, calls the service, returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from app.auth import service
from app.auth.access import access_claims, current_family, current_user, login_required
from app.auth.models import User
from app.auth.schemas import (
    AcceptedSchema,
    AccountUpdateSchema,
    EmailVerificationSchema,
    LoginSchema,
    OAuthErrorSchema,
    PasswordResetRequestSchema,
    PasswordResetSchema,
    ProfileUpdateSchema,
    RefreshSchema,
    SignupSchema,
    TokenPairSchema,
    TokenRequestSchema,
    UserPageSchema,
    UserSchema,
)
from app.core.errors import problem
from app.core.pagination import LINK, Page, PageArgsSchema, link_header, paginate
from app.core.rate_limits import auth_limit, per_client, per_user

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-up and tokens")
users_blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts")

View = TypeVar("View", bound=Callable[..., Any])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
UNVERIFIED_DOC = (
    "REQUIRE_VERIFIED_EMAIL is on and the address is not verified: a new link is mailed"
)
SIGNUP_ACCEPTED = "Check your inbox: we sent a link to finish signing up."
SIGNUP_ACCEPTED_DOC = (
    "The same answer for a new and a taken address: a new one gets its account and a mail "
    "with a confirmation link, a taken one's owner a mail saying someone tried"
)
INVALID_LINK_DOC = "Malformed JSON, or a token that is wrong, expired or used (one answer for all)"


def credential_endpoint(view: View) -> View:
    """Public (no token needed) and rate-limited per client IP by RATELIMIT_AUTH."""
    return per_client(auth_blp, auth_limit)(cast(View, auth_blp.doc(security=[])(view)))


def oauth_error(error: str, description: str) -> Response:
    """RFC 6749 §5.2: the error format OAuth2 clients, Swagger UI among them, understand."""
    response = jsonify(error=error, error_description=description)
    response.status_code = 400
    response.headers.update(NO_STORE)
    return response


@auth_blp.route("/signup")
class Signup(MethodView):
    @credential_endpoint
    @auth_blp.arguments(SignupSchema)
    @auth_blp.response(202, AcceptedSchema, description=SIGNUP_ACCEPTED_DOC)
    def post(self, data: dict[str, str]) -> tuple[dict[str, str], int, dict[str, str]]:
        """Create an account; a mailed link confirms the address.

        The answer never says whether the address had an account: its owner is told by mail.
        """
        service.sign_up(**data)
        return {"detail": SIGNUP_ACCEPTED}, 202, {"Cache-Control": "no-store"}


@auth_blp.route("/login")
class Login(MethodView):
    @credential_endpoint
    @auth_blp.arguments(LoginSchema)
    @auth_blp.response(200, TokenPairSchema)
    @auth_blp.alt_response(401, response="UNAUTHORIZED")
    @auth_blp.alt_response(403, response="FORBIDDEN", description=UNVERIFIED_DOC)
    def post(self, data: dict[str, str]) -> Any:
        """Sign in with email and password; get an access and a refresh token."""
        pair = service.log_in(data["email"], data["password"])
        if pair is None:
            return problem(401, "The email or password is not correct.")
        return pair, 200, NO_STORE


@auth_blp.route("/token")
class Token(MethodView):
    @credential_endpoint
    @auth_blp.arguments(TokenRequestSchema, location="form")
    @auth_blp.response(200, TokenPairSchema)
    @auth_blp.alt_response(400, schema=OAuthErrorSchema, description="RFC 6749 §5.2 error")
    @auth_blp.alt_response(403, response="FORBIDDEN", description=UNVERIFIED_DOC)
    def post(self, form: dict[str, str]) -> Any:
        """OAuth2 password grant (RFC 6749 §4.3), used by the docs page's Authorize button."""
        if form["grant_type"] != "password":
            if not form["grant_type"]:
                return oauth_error("invalid_request", "grant_type is required.")
            return oauth_error("unsupported_grant_type", "Only the password grant is supported.")
        if not form["username"] or not form["password"]:
            return oauth_error("invalid_request", "username and password are required.")
        pair = service.log_in(form["username"], form["password"])
        if pair is None:
            return oauth_error("invalid_grant", "The email or password is not correct.")
        return pair, 200, NO_STORE


@auth_blp.route("/refresh")
class Refresh(MethodView):
    @credential_endpoint
    @auth_blp.arguments(RefreshSchema)
    @auth_blp.response(200, TokenPairSchema)
    @auth_blp.alt_response(401, response="UNAUTHORIZED")
    def post(self, data: dict[str, str]) -> Any:
        """Trade a refresh token for a new pair. Each refresh token works once."""
        return service.rotate(data["refresh_token"]), 200, NO_STORE


@auth_blp.route("/password-reset")
class PasswordReset(MethodView):
    @credential_endpoint
    @auth_blp.arguments(PasswordResetRequestSchema)
    @auth_blp.response(202, AcceptedSchema)
    def post(self, data: dict[str, str]) -> dict[str, str]:
        """Ask for a password-reset link by mail. The answer never says whether the address
        has an account."""
        service.request_password_reset(data["email"])
        return {"detail": "If an account uses this address, a reset link is on its way to it."}


@auth_blp.route("/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @credential_endpoint
    @auth_blp.arguments(PasswordResetSchema)
    @auth_blp.response(204)
    @auth_blp.alt_response(400, response="BAD_REQUEST", description=INVALID_LINK_DOC)
    def post(self, data: dict[str, str]) -> None:
        """Set a new password with the token of a reset link; every sign-in of the account ends."""
        service.reset_password(data["token"], data["password"])


@auth_blp.route("/verify-email")
class VerifyEmail(MethodView):
    @credential_endpoint
    @auth_blp.arguments(EmailVerificationSchema)
    @auth_blp.response(204)
    @auth_blp.alt_response(400, response="BAD_REQUEST", description=INVALID_LINK_DOC)
    def post(self, data: dict[str, str]) -> None:
        """Verify the account's email address with the token of a verification link."""
        service.verify_email(data["token"])


@auth_blp.route("/verify-email/resend")
class ResendVerification(MethodView):
    @login_required(auth_blp)
    @per_user(auth_blp, auth_limit)
    @auth_blp.response(202, AcceptedSchema)
    @auth_blp.alt_response(409, response="CONFLICT", description="Verified already")
    def post(self) -> dict[str, str]:
        """Mail a new verification link to the signed-in account; earlier links stop working."""
        service.resend_verification(current_user())
        return {"detail": "A new verification link is on its way to your email address."}


@auth_blp.route("/logout")
class Logout(MethodView):
    @login_required(auth_blp)
    @auth_blp.response(204)
    def post(self) -> None:
        """Revoke this access token and every refresh token of its sign-in."""
        service.log_out(access_claims())


@users_blp.route("/me")
class Me(MethodView):
    @login_required(users_blp)
    @users_blp.response(200, UserSchema)
    def get(self) -> User:
        """The signed-in user."""
        return current_user()

    @login_required(users_blp)
    @users_blp.arguments(ProfileUpdateSchema)
    @users_blp.response(200, UserSchema)
    @users_blp.alt_response(403, response="FORBIDDEN")
    def patch(self, changes: dict[str, Any]) -> User:
        """Change your name, or your password (which signs out your other sessions)."""
        return service.update_profile(current_user(), changes, current_family())


@users_blp.route("")
class Users(MethodView):
    @login_required(users_blp, admin=True)
    @users_blp.arguments(PageArgsSchema, location="query")
    @users_blp.response(200, UserPageSchema, headers=LINK)
    def get(self, page_args: dict[str, int]) -> tuple[Page, int, dict[str, str]]:
        """Every account, oldest first."""
        page = paginate(service.accounts_query(), **page_args)
        return page, 200, link_header(page)


@users_blp.route("/<int(max=2147483647):user_id>")
class Account(MethodView):
    @login_required(users_blp, admin=True)
    @users_blp.arguments(AccountUpdateSchema)
    @users_blp.response(200, UserSchema)
    @users_blp.alt_response(404, response="NOT_FOUND")
    def patch(self, changes: dict[str, Any], user_id: int) -> User:
        """Change an account's role, or deactivate it, which ends all of its sign-ins."""
        return service.update_account(user_id, changes)
