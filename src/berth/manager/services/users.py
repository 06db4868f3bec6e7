"""Accounts: the first superadmin, users, API keys, browser logins, and resolving a token or
a login cookie to an Actor."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth.domain.rules import RuleError
from berth.files import write_private
from berth.manager import access
from berth.manager.auth import (
    Actor,
    Role,
    due_for_touch,
    hash_password,
    login_usable,
    new_api_key,
    new_login,
    secret_matches,
    split_token,
    verify_password,
)
from berth.manager.db.engine import reading, transaction
from berth.manager.db.tables import (
    ApiKeyRow,
    LoginRow,
    ProjectMemberRow,
    ProjectRow,
    ResourceGroupRow,
    UserRow,
    utcnow,
)
from berth.manager.schemas_admin import ProjectRef, UserLookupOut
from berth.manager.services.projects import member_projects
from berth.manager.services.resource_groups import usable_groups
from berth.manager.services.sessions import Conflict, Forbidden, NotFound

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


async def _check_password(db: AsyncSession, email: str, password: str) -> UserRow:
    """The active user with this email and password. Raises PermissionError (one message for
    every failure: an unknown email costs the same time as a wrong password)."""
    user = await db.scalar(select(UserRow).where(UserRow.email == email.lower()))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise PermissionError("wrong email or password")
    return user


async def login(
    maker: async_sessionmaker[AsyncSession],
    email: str,
    password: str,
    ttl: timedelta,
    user_agent: str = "",
    client_ip: str = "",
) -> tuple[UserRow, LoginRow, str]:
    """Check email + password; on success start a browser login lasting ``ttl`` and return
    it with its cookie value. The user's expired logins are cleared on the way. Raises
    PermissionError."""
    now = utcnow()
    async with transaction(maker) as db:
        user = await _check_password(db, email, password)
        await db.execute(delete(LoginRow).where(
            LoginRow.user_id == user.id, LoginRow.expires_at <= now))
        row, cookie = new_login(user.id, now, ttl, user_agent, client_ip)
        db.add(row)
    return user, row, cookie


async def issue_token(
    maker: async_sessionmaker[AsyncSession], email: str, password: str, label: str
) -> tuple[UserRow, ApiKeyRow, str]:
    """Check email + password; on success create an API key (for the CLI/SDK) and return it
    with the token, shown once. Raises PermissionError."""
    async with transaction(maker) as db:
        user = await _check_password(db, email, password)
        row, token = new_api_key(user.id, label)
        db.add(row)
    return user, row, token


async def actor_for_login(maker: async_sessionmaker[AsyncSession], cookie: str) -> Actor | None:
    """The active user a login cookie belongs to, or None (unknown, wrong secret, expired,
    revoked, or the user deactivated). Records the login's last use, at most once a minute."""
    parts = split_token(cookie)
    if parts is None:
        return None
    now = utcnow()
    async with reading(maker) as db:  # every request: never wait for SQLite's write lock
        found = (await db.execute(select(LoginRow, UserRow).join(
            UserRow, UserRow.id == LoginRow.user_id).where(LoginRow.id == parts[0]))).first()
        if found is None:
            return None
        row, user = found
        if not login_usable(row, parts[1], now) or not user.is_active:
            return None
    if due_for_touch(row.last_used_at, now):
        async with transaction(maker) as db:
            await db.execute(update(LoginRow).where(LoginRow.id == row.id)
                             .values(last_used_at=now))
    return Actor(id=user.id, email=user.email, role=Role(user.role), login_id=row.id)


async def list_logins(maker: async_sessionmaker[AsyncSession], actor: Actor) -> list[LoginRow]:
    """The actor's unexpired logins, newest first."""
    async with maker() as db:
        rows = await db.scalars(select(LoginRow).where(
            LoginRow.user_id == actor.id, LoginRow.expires_at > utcnow()
        ).order_by(LoginRow.created_at.desc()))
        return list(rows.all())


async def revoke_login(
    maker: async_sessionmaker[AsyncSession], actor: Actor, login_id: str
) -> None:
    """End one of the actor's logins; its cookie stops working at once. Another user's login
    is as unknown as a missing one. Raises NotFound."""
    async with transaction(maker) as db:
        row = await db.get(LoginRow, login_id)
        if row is None or row.user_id != actor.id:
            raise NotFound(f"no login {login_id}")
        await db.delete(row)


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
    async with reading(maker) as db:  # every request: never wait for SQLite's write lock
        found = (await db.execute(select(ApiKeyRow, UserRow).join(
            UserRow, UserRow.id == ApiKeyRow.user_id).where(
                ApiKeyRow.access_key == parts[0]))).first()
        if found is None:
            return None
        key, user = found
        if not secret_matches(key, parts[1]) or not user.is_active:
            return None
    now = utcnow()
    if due_for_touch(key.last_used_at, now):
        async with transaction(maker) as db:
            await db.execute(update(ApiKeyRow).where(ApiKeyRow.access_key == key.access_key)
                             .values(last_used_at=now))
    return Actor(id=user.id, email=user.email, role=Role(user.role), access_key=key.access_key)


def check_password_rules(password: str) -> None:
    if len(password) < 8:
        raise RuleError("password", "must be at least 8 characters long")


async def get_user(maker: async_sessionmaker[AsyncSession], actor: Actor) -> UserRow:
    """The caller's own account. Raises NotFound when it was deleted meanwhile."""
    async with maker() as db:
        row = await db.get(UserRow, actor.id)
    if row is None:
        raise NotFound("your account no longer exists")
    return row


async def list_users(maker: async_sessionmaker[AsyncSession], actor: Actor) -> list[UserRow]:
    """Every account, by email. Admins only (see :mod:`berth.manager.access`): raises
    Forbidden."""
    if not access.may_list_users(actor):
        raise Forbidden("only admins may list users")
    async with maker() as db:
        return list((await db.scalars(select(UserRow).order_by(UserRow.email))).all())


async def lookup_user(maker: async_sessionmaker[AsyncSession], actor: Actor,
                      email: str) -> UserLookupOut:
    """Admins: the user with ``email``, their active projects and the active resource groups
    they may use. Raises Forbidden or NotFound."""
    if not access.may_list_users(actor):
        raise Forbidden("only admins may look users up")
    async with maker() as db:
        user = await db.scalar(select(UserRow).where(UserRow.email == email.lower()))
        if user is None:
            raise NotFound(f"no user with email {email}")
        projects = [p for p in await member_projects(db, user.id) if p.is_active]
        groups = await usable_groups(db, user.id, user.role == Role.SUPERADMIN)
        active = set((await db.scalars(select(ResourceGroupRow.name)
                                       .where(ResourceGroupRow.is_active))).all())
    return UserLookupOut(
        id=user.id, email=user.email, full_name=user.full_name, is_active=user.is_active,
        resource_policy=user.resource_policy,
        projects=[ProjectRef(id=p.id, name=p.name) for p in projects],
        resource_groups=sorted(groups & active))


async def list_keys(maker: async_sessionmaker[AsyncSession], actor: Actor) -> list[ApiKeyRow]:
    """The caller's API keys, oldest first (without their secrets, which are not stored)."""
    async with maker() as db:
        rows = await db.scalars(
            select(ApiKeyRow).where(ApiKeyRow.user_id == actor.id).order_by(ApiKeyRow.created_at)
        )
        return list(rows.all())
