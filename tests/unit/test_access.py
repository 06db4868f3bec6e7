"""The access rules table (manager/access.py): every role x relation x action has exactly one
expected outcome, written out here rather than derived, so that a change to a rule shows up
as a changed line of this table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from berth.domain.status import SessionType
from berth.manager import access
from berth.manager.access import Access, Action, Relation
from berth.manager.auth import Actor, Role
from berth.manager.db.tables import Base, SessionRow

A, F, H = Access.ALLOW, Access.FORBIDDEN, Access.HIDDEN
ACTIONS = [Action.VIEW, Action.LOGS, Action.RENAME, Action.TERMINATE, Action.OPEN_APP,
           Action.SSH_KEY, Action.TERMINAL, Action.COMMIT]

#                                      view logs rename term. app  ssh  terminal commit
TABLE: dict[tuple[Role, Relation], tuple[Access, ...]] = {
    (Role.USER, Relation.OWNER):        (A, A, A, A, A, A, A, A),
    (Role.USER, Relation.CREATOR):      (H, H, H, H, H, H, H, H),  # e.g. a demoted admin
    (Role.USER, Relation.NONE):         (H, H, H, H, H, H, H, H),
    (Role.ADMIN, Relation.OWNER):       (A, A, A, A, A, A, A, A),
    (Role.ADMIN, Relation.CREATOR):     (A, A, F, A, F, F, F, F),
    (Role.ADMIN, Relation.NONE):        (H, H, H, H, H, H, H, H),
    (Role.SUPERADMIN, Relation.OWNER):  (A, A, A, A, A, A, A, A),
    (Role.SUPERADMIN, Relation.CREATOR): (A, A, F, A, F, F, F, F),
    (Role.SUPERADMIN, Relation.NONE):   (A, A, F, A, F, F, F, F),
}
CASES = [(role, rel, action, expected[i])
         for (role, rel), expected in TABLE.items() for i, action in enumerate(ACTIONS)]


def test_the_table_covers_every_role_relation_and_action() -> None:
    assert set(ACTIONS) == set(Action)
    assert {(r, rel) for r in Role for rel in Relation} == set(TABLE)
    assert len(CASES) == len(Role) * len(Relation) * len(Action)


@pytest.mark.parametrize(("role", "rel", "action", "expected"), CASES,
                         ids=[f"{r}-{rel}-{a}" for r, rel, a, _ in CASES])
def test_decide(role: Role, rel: Relation, action: Action, expected: Access) -> None:
    assert access.decide(role, rel, action) is expected


@dataclass(frozen=True)
class Thing:
    owner_id: str
    creator_id: str


def actor(role: Role, id_: str = "me") -> Actor:
    return Actor(id=id_, email=f"{id_}@example.com", role=role, access_key="BK")


@pytest.mark.parametrize(("thing", "expected"), [
    (Thing("me", "me"), Relation.OWNER),
    (Thing("me", "admin"), Relation.OWNER),  # owning wins over anything else
    (Thing("user", "me"), Relation.CREATOR),
    (Thing("user", "other"), Relation.NONE),
])
def test_relation(thing: Thing, expected: Relation) -> None:
    assert access.relation("me", thing) is expected


def test_can_see_and_can_act_follow_the_table() -> None:
    launched_for_user = Thing(owner_id="user", creator_id="me")
    admin = actor(Role.ADMIN)
    assert access.can_see(admin, launched_for_user)
    assert access.can_act(admin, launched_for_user, Action.TERMINATE)
    assert not access.can_act(admin, launched_for_user, Action.RENAME)
    assert not access.can_see(actor(Role.USER), launched_for_user)
    assert access.can_see(actor(Role.SUPERADMIN), Thing("a", "b"))


def test_every_forbidden_action_has_a_message_naming_who_may() -> None:
    for action in Action:
        if any(TABLE[k][ACTIONS.index(action)] is F for k in TABLE):
            assert "owner" in access.refusal(action), action


@pytest.mark.parametrize("role", list(Role))
def test_sql_filter_selects_exactly_what_can_see_allows(role: Role) -> None:
    """The rows the SQL condition selects are the rows can_see() allows, for every relation."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    things = {"mine": Thing("me", "me"), "launched": Thing("user", "me"),
              "launched-by-me-for-me": Thing("me", "other"), "theirs": Thing("user", "other")}
    with Session(engine) as db:
        for name, t in things.items():
            db.add(SessionRow(id=name, name=name, owner_id=t.owner_id, creator_id=t.creator_id,
                              project_id="p", type=SessionType.INTERACTIVE, image="i"))
        db.commit()
        who = actor(role)
        got = set(db.scalars(select(SessionRow.id).where(access.visible_sessions(who))))
    assert got == {name for name, t in things.items() if access.can_see(who, t)}
