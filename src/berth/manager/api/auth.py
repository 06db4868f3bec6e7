"""Login, logout, browser logins, who am I, users and API keys."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from berth.domain.credentials import LOGIN_COOKIE
from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.auth import Role
from berth.manager.schemas import (
    KeyCreate,
    KeyCreatedOut,
    KeyOut,
    LoggedInOut,
    LoginIn,
    LoginOut,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserOut,
)
from berth.manager.schemas_admin import UserLookupOut, UserUpdate
from berth.manager.services import policies, users
from berth.manager.services.sessions import NotFound

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/auth/login", responses={401: {"description": "Wrong email or password"},
                                        403: {"description": "From a page of another origin"}})
async def login(body: LoginIn, m: ManagerDep, request: Request,
                response: Response) -> LoggedInOut:
    """Browser login: check email + password and start a login, kept in the HttpOnly cookie
    ``berth_login`` (``SameSite=Strict``, ``Path=/``; lasts ``login_ttl``). No API key is
    handed out: programs use ``POST /api/auth/token``."""
    client_ip = request.client.host if request.client else ""
    try:
        user, row, cookie = await users.login(
            m.db, body.email, body.password, timedelta(seconds=m.settings.login_ttl),
            request.headers.get("user-agent", ""), client_ip)
    except PermissionError as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(e)) from e
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=int(m.settings.login_ttl), path="/",
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return LoggedInOut(user=UserOut.model_validate(user),
                       login=LoginOut.model_validate(row).model_copy(update={"current": True}))


@router.post("/auth/token", status_code=201,
             responses={401: {"description": "Wrong email or password"}})
async def token(body: TokenCreate, m: ManagerDep) -> TokenOut:
    """Email + password for a new API key (what ``berth login`` and ``Client.login`` use).
    The token is shown only in this answer; send it as ``Authorization: Bearer <token>``."""
    try:
        user, key, token = await users.issue_token(m.db, body.email, body.password, body.label)
    except PermissionError as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(e)) from e
    return TokenOut(token=token, access_key=key.access_key, user=UserOut.model_validate(user))


@router.post("/auth/logout", status_code=204)
async def logout(actor: ActorDep, m: ManagerDep, response: Response) -> None:
    """End the browser login of this request and clear its cookie. With an API key: nothing
    to end (delete the key with ``DELETE /api/keys/{access_key}``)."""
    if actor.login_id:
        with contextlib.suppress(NotFound):  # revoked meanwhile: the same outcome
            await users.revoke_login(m.db, actor, actor.login_id)
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")


@router.get("/logins")
async def list_logins(actor: ActorDep, m: ManagerDep) -> list[LoginOut]:
    """The caller's browser logins that have not expired, newest first; ``current`` marks
    the one of this request."""
    return [LoginOut.model_validate(r).model_copy(update={"current": r.id == actor.login_id})
            for r in await users.list_logins(m.db, actor)]


@router.delete("/logins/{login_id}", status_code=204,
               responses={404: {"description": "No such login of yours"}})
async def revoke_login(login_id: str, actor: ActorDep, m: ManagerDep) -> None:
    """End one of the caller's logins; a browser using it is logged out at its next request."""
    await users.revoke_login(m.db, actor, login_id)


@router.get("/users/me")
async def me(actor: ActorDep, m: ManagerDep) -> UserOut:
    return UserOut.model_validate(await users.get_user(m.db, actor))


@router.get("/users", responses={403: {"description": "Not an admin"}})
async def list_users(actor: ActorDep, m: ManagerDep) -> list[UserOut]:
    return [UserOut.model_validate(r) for r in await users.list_users(m.db, actor)]


@router.get("/users/lookup", responses={403: {"description": "Not an admin"},
                                       404: {"description": "No such user"}})
async def lookup_user(email: Annotated[str, Query(min_length=1, max_length=254)],
                      actor: ActorDep, m: ManagerDep) -> UserLookupOut:
    """Admins: a user by email with their active projects and the active resource groups
    they may use (to launch a session for them)."""
    return await users.lookup_user(m.db, actor, email)


@router.patch("/users/{user_id}", responses={403: {"description": "Not allowed"},
                                             404: {"description": "No such user"}})
async def update_user(user_id: str, body: UserUpdate, actor: ActorDep, m: ManagerDep) -> UserOut:
    """Admins: set a user's resource policy (null: none), full name, or active flag (only a
    superadmin changes an admin's account)."""
    return UserOut.model_validate(await policies.update_user(m, actor, user_id, body))


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
    return [KeyOut.model_validate(r) for r in await users.list_keys(m.db, actor)]


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
