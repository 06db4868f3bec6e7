"""Session names at create time, at the service level on SQLite and PostgreSQL: a generated
name (``s-<seed>``) is not looked up first, so a clash with an active session is caught by
the unique index and the create tries once more with a new seed; a name the user gave is
looked up and refused with the field's rule (422); the answer needs no second read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from test_scheduling_race import FakeManager, database

from berth.domain.rules import RuleErrors
from berth.manager.auth import Actor, Role
from berth.manager.db.engine import make_engine, make_sessionmaker, transaction
from berth.manager.db.tables import (
    AgentRow,
    ImageRow,
    ProjectMemberRow,
    ProjectRow,
    SessionRow,
    UserRow,
)
from berth.manager.schemas import SessionCreate
from berth.manager.services import sessions as svc
from berth.manager.services.users import ensure_defaults
from cluster import run_async

__all__ = ["database"]
IMAGE = "berth/python:3.11"


@pytest.fixture
def seeds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The seeds the service draws for generated names, in order (each drawn once)."""
    queue: list[str] = []
    monkeypatch.setattr(svc.secrets, "token_hex", lambda _n: queue.pop(0))
    yield queue


def test_generated_name_clash_tries_a_new_seed(database: str, seeds: list[str]) -> None:
    async def go() -> None:
        engine = make_engine(database)
        try:
            m: Any = FakeManager(make_sessionmaker(engine))
            await ensure_defaults(m.db)
            async with transaction(m.db) as db:
                user = UserRow(email="names@example.com", password_hash="x", role="user")
                db.add(user)
                await db.flush()
                default = await db.scalar(select(ProjectRow.id).where(
                    ProjectRow.name == "default"))
                db.add(ProjectMemberRow(project_id=default, user_id=user.id))
                db.add(AgentRow(id="a1", address="http://a1", resource_group="default",
                                capacity={"cpu": "8", "mem": str(16 * 2**30)}))
                db.add(ImageRow(ref=IMAGE, display_name="Python", version="3.11",
                                agents=["a1"]))
            actor = Actor(id=user.id, email=user.email, role=Role.USER)
            body = SessionCreate(image=IMAGE)

            seeds[:] = ["00c0ffee"]
            shown = svc.Shown()
            [first] = await svc.create_sessions(m, actor, body, shown=shown)
            assert first.name == "s-00c0ffee"
            # The answer's owner email and project name come from the create's own reads.
            assert shown.emails == {user.id: "names@example.com"}
            assert shown.projects == {default: "default"}

            seeds[:] = ["00c0ffee", "0badcafe"]  # the first clashes with the active one
            [second] = await svc.create_sessions(m, actor, body)
            assert second.name == "s-0badcafe" and seeds == []

            seeds[:] = ["00c0ffee", "00c0ffee"]  # clashes twice: a 409, nothing written
            with pytest.raises(svc.Conflict, match="name"):
                await svc.create_sessions(m, actor, body)

            seeds[:] = ["12345678"]
            with pytest.raises(RuleErrors) as given:  # a given name is looked up: 422
                await svc.create_sessions(m, actor, SessionCreate(image=IMAGE,
                                                                  name="s-00c0ffee"))
            assert "name" in {e.field for e in given.value.errors}
            async with m.db() as db:
                names = sorted((await db.scalars(select(SessionRow.name))).all())
            assert names == ["s-00c0ffee", "s-0badcafe"]
        finally:
            await engine.dispose()

    run_async(go())
