"""The signed-in caller of a request, for the core features scoped to a user (per-user rate
limits, idempotency keys). ``app/auth/access.py`` records it once it has verified the token, so
the core never imports a domain."""

from __future__ import annotations

from typing import cast

from flask import g


def record_caller(user_id: int) -> None:
    g.caller_id = user_id


def caller_id() -> int:
    """The verified caller's user id: only for code that runs after ``login_required``."""
    return cast(int, g.caller_id)
