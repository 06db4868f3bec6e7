"""Who may see and act on what: the one home of Berth's access rules.

Every route and service asks here; none decides access itself. The rules are a table over
the caller's role, their relation to the thing (owner, the admin who launched it for its
owner, or none) and the action, so that one test can enumerate all of them:

- a user sees and acts on their own sessions; nobody else's exist for them (404);
- an admin also sees the sessions they launched for a user, and may terminate them;
- a superadmin sees every session and may terminate any;
- renaming, apps (open/close), the SSH key and the terminal are the owner's only: they hand
  out the owner's credentials or act in their name (403 for others who see the session);
- admins list the accounts; a customized image is its owner's only.

:func:`visible_sessions` is the same "may see" rule as an SQL condition, for lists and
lookups by name; :func:`decide` is pure (no I/O, no clock).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, or_, true

from berth.manager.auth import Actor, Role
from berth.manager.db.tables import SessionRow


class Action(StrEnum):
    """What a caller wants to do with a session."""

    VIEW = "view"  # read it: info, history, events, list of apps
    LOGS = "logs"
    RENAME = "rename"
    TERMINATE = "terminate"
    OPEN_APP = "open_app"  # open or close an app
    SSH_KEY = "ssh_key"
    TERMINAL = "terminal"
    COMMIT = "commit"  # save it as a customized image


class Relation(StrEnum):
    """How the caller stands to the session."""

    OWNER = "owner"
    CREATOR = "creator"  # launched it on behalf of its owner
    NONE = "none"


class Access(StrEnum):
    """The answer: allowed, visible but not allowed (403), or invisible (404)."""

    ALLOW = "allow"
    FORBIDDEN = "forbidden"
    HIDDEN = "hidden"


class Owned(Protocol):
    """Anything with an owner and a creator: a session row, a session's event."""

    @property
    def owner_id(self) -> str: ...

    @property
    def creator_id(self) -> str: ...


#: Actions only the owner may do, whoever else sees the session.
OWNER_ONLY = frozenset({Action.RENAME, Action.OPEN_APP, Action.SSH_KEY, Action.TERMINAL,
                        Action.COMMIT})
#: Actions any admin who sees the session may do too.
ADMIN_TOO = frozenset({Action.VIEW, Action.LOGS, Action.TERMINATE})

_MESSAGES = {
    Action.RENAME: "only the owner may rename a session",
    Action.OPEN_APP: "only the session's owner can open or close its apps",
    Action.SSH_KEY: "only the session's owner can download its SSH key",
    Action.TERMINAL: "only the session's owner can open its terminal",
    Action.TERMINATE: "only the owner or an admin may terminate this session",
    Action.COMMIT: "only the session's owner can commit it to an image",
}


def relation(actor_id: str, thing: Owned) -> Relation:
    if thing.owner_id == actor_id:
        return Relation.OWNER
    if thing.creator_id == actor_id:
        return Relation.CREATOR
    return Relation.NONE


def _sees(role: Role, rel: Relation) -> bool:
    if role is Role.SUPERADMIN or rel is Relation.OWNER:
        return True
    return role is Role.ADMIN and rel is Relation.CREATOR


def decide(role: Role, rel: Relation, action: Action) -> Access:
    """The rules table: what ``role`` standing in ``rel`` to a session may do with it."""
    if not _sees(role, rel):
        return Access.HIDDEN
    if rel is Relation.OWNER:
        return Access.ALLOW
    if action in ADMIN_TOO:
        return Access.ALLOW  # _sees() already limited non-owners to admins
    return Access.FORBIDDEN


def access(actor: Actor, thing: Owned, action: Action = Action.VIEW) -> Access:
    return decide(actor.role, relation(actor.id, thing), action)


def can_see(actor: Actor, thing: Owned) -> bool:
    return access(actor, thing) is not Access.HIDDEN


def can_act(actor: Actor, thing: Owned, action: Action) -> bool:
    return access(actor, thing, action) is Access.ALLOW


def refusal(action: Action) -> str:
    """The message of a 403 for ``action``."""
    return _MESSAGES.get(action, f"you may not {action} this session")


def may_list_users(actor: Actor) -> bool:
    """Admins see the accounts (to launch sessions for them); users only their own."""
    return actor.role in (Role.ADMIN, Role.SUPERADMIN)


def can_use_image(actor: Actor, image_owner_id: str | None) -> bool:
    """Shared images are everyone's; a customized image is its owner's only."""
    return image_owner_id is None or image_owner_id == actor.id


def visible_sessions(actor: Actor) -> ColumnElement[bool]:
    """The SQL condition on ``sessions`` selecting exactly the rows :func:`can_see` allows."""
    if actor.role is Role.SUPERADMIN:
        return true()
    if actor.role is Role.ADMIN:
        return or_(SessionRow.owner_id == actor.id, SessionRow.creator_id == actor.id)
    return SessionRow.owner_id == actor.id
