"""Passwords (Argon2id), API keys, and who is asking.

An API key is shown once as ``<access key>.<secret>``; the database keeps only the SHA-256 of
the secret. The browser uses the same token in an HttpOnly cookie set at login.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from berth.manager.db.tables import ApiKeyRow

_hasher = PasswordHasher()
#: Verified against when the email is unknown, so that timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-password")
COOKIE_NAME = "berth_token"


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


def secret_matches(row: ApiKeyRow, secret: str) -> bool:
    return secrets.compare_digest(row.secret_hash, _digest(secret))


@dataclass(frozen=True)
class Actor:
    """The authenticated user behind a request."""

    id: str
    email: str
    role: Role
    access_key: str

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.ADMIN, Role.SUPERADMIN)

    @property
    def is_superadmin(self) -> bool:
        return self.role is Role.SUPERADMIN
