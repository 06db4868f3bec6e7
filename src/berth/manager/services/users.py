"""Accounts: the first superadmin, users, API keys, and resolving a token to an Actor."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth.domain.rules import RuleError
from berth.files import write_private
from berth.manager.auth import (
    Actor,
    Role,
    hash_password,
    new_api_key,
    secret_matches,
    split_token,
    verify_password,
)
from berth.manager.db.engine import transaction
from berth.manager.db.tables import (
    ApiKeyRow,
    ProjectMemberRow,
    ProjectRow,
    ResourceGroupRow,
    UserRow,
    utcnow,
)
from berth.manager.services.sessions import Conflict, Forbidden

FIRST_ADMIN_EMAIL = "admin@berth.local"


async def ensure_defaults(maker: async_sessionmaker[AsyncSession]) -> None:
    """The default project and resource group exist. Idempotent."""
    async with transaction(maker) as db:
        if await db.scalar(select(ProjectRow).where(ProjectRow.name == "default")) is None:
            db.add(ProjectRow(name="default"))
        if await db.get(ResourceGroupRow, "default") is None:
            db.add(ResourceGroupRow(name="default", description="All agents by default"))


async def ensure_first_admin(
    maker: async_sessionmaker[AsyncSession], credentials_file: Path
) -> str | None:
    """Create the first superadmin when there are no users. Its password goes once to the
    caller (to print) and to ``credentials_file`` (mode 0600). Returns None if users exist."""
    async with transaction(maker) as db:
        if await db.scalar(select(UserRow.id).limit(1)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        await _add_user(db, FIRST_ADMIN_EMAIL, password, Role.SUPERADMIN, "Administrator")
    write_private(credentials_file, f"email = {FIRST_ADMIN_EMAIL}\npassword = {password}\n")
    return password


async def _add_user(
    db: AsyncSession, email: str, password: str, role: Role, full_name: str
) -> UserRow:
    user = UserRow(
        email=email.lower(), password_hash=hash_password(password), role=role, full_name=full_name
    )
    db.add(user)
    await db.flush()
    project_id = await db.scalar(select(ProjectRow.id).where(ProjectRow.name == "default"))
    if project_id is not None:
        db.add(ProjectMemberRow(project_id=project_id, user_id=user.id))
    return user


async def create_user(
    maker: async_sessionmaker[AsyncSession],
    actor: Actor,
    email: str,
    password: str,
    role: Role,
    full_name: str,
) -> UserRow:
    if not actor.is_admin:
        raise Forbidden("only admins may create users")
    if role is not Role.USER and not actor.is_superadmin:
        raise Forbidden("only a superadmin may create admins")
    try:
        async with transaction(maker) as db:
            if await db.scalar(select(UserRow.id).where(UserRow.email == email.lower())):
                raise Conflict(f"email: a user {email} exists already")
            return await _add_user(db, email, password, role, full_name)
    except IntegrityError as e:
        raise Conflict(f"email: a user {email} exists already") from e


async def login(
    maker: async_sessionmaker[AsyncSession], email: str, password: str
) -> tuple[UserRow, ApiKeyRow, str]:
    """Check email + password; on success issue a new key. Raises PermissionError."""
    async with transaction(maker) as db:
        user = await db.scalar(select(UserRow).where(UserRow.email == email.lower()))
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.is_active:
            raise PermissionError("wrong email or password")
        row, token = new_api_key(user.id, "login")
        db.add(row)
    return user, row, token


async def create_key(
    maker: async_sessionmaker[AsyncSession], actor: Actor, label: str
) -> tuple[ApiKeyRow, str]:
    async with transaction(maker) as db:
        row, token = new_api_key(actor.id, label)
        db.add(row)
    return row, token


async def delete_key(
    maker: async_sessionmaker[AsyncSession], actor: Actor, access_key: str
) -> None:
    async with transaction(maker) as db:
        row = await db.get(ApiKeyRow, access_key)
        if row is None or row.user_id != actor.id:
            raise LookupError(f"no key {access_key}")
        await db.delete(row)


async def actor_for_token(maker: async_sessionmaker[AsyncSession], token: str) -> Actor | None:
    """The active user a token belongs to, or None. Records the key's last use."""
    parts = split_token(token)
    if parts is None:
        return None
    async with transaction(maker) as db:
        key = await db.get(ApiKeyRow, parts[0])
        if key is None or not secret_matches(key, parts[1]):
            return None
        user = await db.get(UserRow, key.user_id)
        if user is None or not user.is_active:
            return None
        now = utcnow()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            key.last_used_at = now
        return Actor(id=user.id, email=user.email, role=Role(user.role), access_key=key.access_key)


def check_password_rules(password: str) -> None:
    if len(password) < 8:
        raise RuleError("password", "must be at least 8 characters long")
