"""The mails an account receives, each written once and sent as plain text plus HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlencode

from app.auth.models import User
from app.core import project
from app.core.settings import current_settings


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def compose(
    user: User, subject: str, paragraphs: list[str], link: Link | None = None, *, after: str = ""
) -> EmailMessage:
    """A greeting, paragraphs, an optional link (a button in HTML, a bare URL in text), a note."""
    blocks = [f"Hello {user.name},", *paragraphs]
    markup = [f"<p>{html.escape(block)}</p>" for block in blocks]
    if link is not None:
        blocks.append(f"{link.label}:\n{link.url}")
        url = html.escape(link.url)
        markup.append(
            f'<p><a href="{url}" style="display:inline-block;padding:10px 18px;'
            'background:#1d4ed8;color:#ffffff;text-decoration:none;border-radius:4px">'
            f"{html.escape(link.label)}</a></p>"
            f'<p style="font-size:13px;color:#555555">Or paste this address into your browser:'
            f"<br>{url}</p>"
        )
    if after:
        blocks.append(after)
        markup.append(f'<p style="font-size:13px;color:#555555">{html.escape(after)}</p>')
    blocks.append(f"The {project.NAME} team")
    markup.append(f"<p>The {project.NAME} team</p>")

    message = EmailMessage()
    message["To"] = user.email
    message["Subject"] = subject
    message.set_content("\n\n".join(blocks) + "\n")
    message.add_alternative(
        '<!doctype html>\n<html><body style="font-family:sans-serif;line-height:1.5">\n'
        + "\n".join(markup)
        + "\n</body></html>\n",
        subtype="html",
    )
    return message


def frontend_link(page: str, token: str) -> str:
    """``{FRONTEND_URL}/<page>?token=...``: the page of the front end that uses the token."""
    return f"{current_settings().frontend_url}/{page}?{urlencode({'token': token})}"


def lifetime_note() -> str:
    minutes = max(1, current_settings().password_reset_token_expires // 60)
    return f"The link works once, within {minutes} minutes."


def welcome(user: User, verification_token: str | None) -> EmailMessage:
    """The first mail of an account; it asks to confirm the address unless that is done."""
    if verification_token is None:
        return compose(user, f"Welcome to {project.NAME}", ["Your account is ready. Welcome!"])
    return compose(
        user,
        f"Welcome to {project.NAME}",
        ["Your account is ready. Welcome! Please confirm that this email address is yours."],
        Link("Confirm my email address", frontend_link("verify-email", verification_token)),
        after=lifetime_note(),
    )


def email_verification(user: User, token: str) -> EmailMessage:
    return compose(
        user,
        f"Confirm your email address for {project.NAME}",
        [f"Please confirm that this email address belongs to your {project.NAME} account."],
        Link("Confirm my email address", frontend_link("verify-email", token)),
        after=f"{lifetime_note()} If you did not ask for it, you can ignore this mail.",
    )


def password_reset(user: User, token: str) -> EmailMessage:
    return compose(
        user,
        f"Reset your {project.NAME} password",
        [
            f"Someone, hopefully you, asked to reset the password of your {project.NAME} "
            "account. Choose a new one with the link below; every device signed in to your "
            "account will be signed out."
        ],
        Link("Choose a new password", frontend_link("reset-password", token)),
        after=f"{lifetime_note()} If you did not ask for it, ignore this mail: "
        "your password stays as it is.",
    )


def signup_attempt(user: User) -> EmailMessage:
    """For the owner of an address someone tried to sign up with again."""
    return compose(
        user,
        f"Someone tried to sign up for {project.NAME} with your address",
        [
            f"Someone, perhaps you, tried to create a {project.NAME} account with this email "
            "address. It already has an account, so nothing was created and nothing changed.",
            "If it was you, sign in with your password. If you have forgotten it, ask for a "
            "password reset on the sign-in page and we will mail you a link to choose a new one.",
        ],
        after="If it was not you, you can ignore this mail: your account stays as it is.",
    )
