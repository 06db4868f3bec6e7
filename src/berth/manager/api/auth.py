"""Login, logout, who am I, users and API keys."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select

from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.auth import COOKIE_NAME, Role
from berth.manager.db.tables import ApiKeyRow, UserRow
from berth.manager.schemas import (
    KeyCreate,
    KeyCreatedOut,
    KeyOut,
    LoginIn,
    TokenOut,
    UserCreate,
    UserOut,
)
from berth.manager.services import users

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/auth/login", responses={401: {"description": "Wrong email or password"}})
async def login(body: LoginIn, m: ManagerDep, response: Response) -> TokenOut:
    """Exchange email + password for an API key; also sets it as an HttpOnly cookie."""
    try:
        user, key, token = await users.login(m.db, body.email, body.password)
    except PermissionError as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(e)) from e
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict")
    return TokenOut(token=token, access_key=key.access_key, user=UserOut.model_validate(user))


@router.post("/auth/logout", status_code=204)
async def logout(actor: ActorDep, m: ManagerDep, response: Response) -> None:
    """Revoke the key used for this request and clear the cookie."""
    await users.delete_key(m.db, actor, actor.access_key)
    response.delete_cookie(COOKIE_NAME)


@router.get("/users/me")
async def me(actor: ActorDep, m: ManagerDep) -> UserOut:
    async with m.db() as db:
        return UserOut.model_validate(await db.get(UserRow, actor.id))


@router.get("/users", responses={403: {"description": "Not an admin"}})
async def list_users(actor: ActorDep, m: ManagerDep) -> list[UserOut]:
    if not actor.is_admin:
        raise HTTPException(403, "only admins may list users")
    async with m.db() as db:
        rows = (await db.scalars(select(UserRow).order_by(UserRow.email))).all()
    return [UserOut.model_validate(r) for r in rows]


@router.post(
    "/users",
    status_code=201,
    responses={403: {"description": "Not allowed"}, 409: {"description": "Exists"}},
)
async def create_user(body: UserCreate, actor: ActorDep, m: ManagerDep) -> UserOut:
    row = await users.create_user(
        m.db, actor, body.email, body.password, Role(body.role), body.full_name
    )
    return UserOut.model_validate(row)


@router.get("/keys")
async def list_keys(actor: ActorDep, m: ManagerDep) -> list[KeyOut]:
    async with m.db() as db:
        rows = (
            await db.scalars(
                select(ApiKeyRow)
                .where(ApiKeyRow.user_id == actor.id)
                .order_by(ApiKeyRow.created_at)
            )
        ).all()
    return [KeyOut.model_validate(r) for r in rows]


@router.post("/keys", status_code=201)
async def create_key(body: KeyCreate, actor: ActorDep, m: ManagerDep) -> KeyCreatedOut:
    """A new API key for the caller; the token is shown only in this response."""
    row, token = await users.create_key(m.db, actor, body.label)
    return KeyCreatedOut(
        access_key=row.access_key,
        label=row.label,
        created_at=row.created_at,
        last_used_at=None,
        token=token,
    )


@router.delete("/keys/{access_key}", status_code=204, responses={404: {"description": "No key"}})
async def delete_key(access_key: str, actor: ActorDep, m: ManagerDep) -> None:
    try:
        await users.delete_key(m.db, actor, access_key)
    except LookupError as e:
        raise HTTPException(404, str(e)) from e
