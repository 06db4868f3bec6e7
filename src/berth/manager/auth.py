"""Passwords (Argon2id), API keys, browser logins, and who is asking.

An API key is shown once as ``<access key>.<secret>``; the database keeps only the SHA-256 of
the secret. API keys are for the CLI and SDK, in the ``Authorization`` header only. The
browser gets a login instead: a ``logins`` row and an HttpOnly cookie ``<login id>.<secret>``
(again only the secret's SHA-256 is stored), which ends at its expiry, at logout or when its
user revokes it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from berth.domain.credentials import LOGIN_COOKIE
from berth.manager.db.tables import ApiKeyRow, LoginRow

_hasher = PasswordHasher()
#: Verified against when the email is unknown, so that timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-password")
COOKIE_NAME = LOGIN_COOKIE
#: A login's ``last_used_at`` is written at most this often (it is shown, not enforced).
TOUCH_EVERY = timedelta(minutes=1)


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    USER = "user"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key(user_id: str, label: str = "") -> tuple[ApiKeyRow, str]:
    """A new key row and the token to show the user once."""
    access_key = "BK" + secrets.token_hex(9).upper()
    secret = secrets.token_urlsafe(30)
    row = ApiKeyRow(
        access_key=access_key, secret_hash=_digest(secret), user_id=user_id, label=label
    )
    return row, f"{access_key}.{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    access_key, sep, secret = token.partition(".")
    if not sep or not access_key or not secret:
        return None
    return access_key, secret


def secret_matches(row: ApiKeyRow | LoginRow, secret: str) -> bool:
    return secrets.compare_digest(row.secret_hash, _digest(secret))


def new_login(user_id: str, now: datetime, ttl: timedelta, user_agent: str = "",
              client_ip: str = "") -> tuple[LoginRow, str]:
    """A new login row (not yet added) and the cookie value for the browser:
    ``<login id>.<secret>``. The user agent and address are cut to their columns' sizes."""
    secret = secrets.token_urlsafe(32)
    row = LoginRow(id=str(uuid.uuid4()), secret_hash=_digest(secret), user_id=user_id,
                   user_agent=user_agent[:256], client_ip=client_ip[:64], created_at=now,
                   last_used_at=now, expires_at=now + ttl)
    return row, f"{row.id}.{secret}"


def login_usable(row: LoginRow | None, secret: str, now: datetime) -> bool:
    """True when ``row`` exists, matches ``secret`` and has not expired."""
    return row is not None and secret_matches(row, secret) and row.expires_at > now


def due_for_touch(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= TOUCH_EVERY


@dataclass(frozen=True)
class Actor:
    """The authenticated user behind a request."""

    id: str
    email: str
    role: Role
    access_key: str = ""  # the API key of this request; empty for a browser login
    login_id: str = ""  # the browser login of this request; empty for an API key

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.ADMIN, Role.SUPERADMIN)

    @property
    def is_superadmin(self) -> bool:
        return self.role is Role.SUPERADMIN
