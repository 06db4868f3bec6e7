"""Status-change history written in bulk (:mod:`berth.manager.db.history`), on SQLite and
PostgreSQL: every change of a transaction lands, in one insert statement; a rolled-back
savepoint's changes leave no entry while the enclosing transaction's stay; an entry is
visible to a query in the same transaction once its change is flushed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select
from test_scheduling_race import database, seed

from berth.domain import slots as sl
from berth.domain.status import SessionStatus, StatusInfo
from berth.manager.context import change_status
from berth.manager.db.engine import make_engine, make_sessionmaker, transaction
from berth.manager.db.tables import SessionHistoryRow, SessionRow
from cluster import run_async

__all__ = ["database"]
S = SessionStatus


def test_history_in_bulk(database: str) -> None:
    async def go() -> None:
        engine = make_engine(database)
        inserts: list[tuple[str, bool]] = []

        def count(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
                  many: bool) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO SESSION_HISTORY"):
                inserts.append((statement, many))

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            maker = make_sessionmaker(engine)
            async with transaction(maker) as db:
                ids = await seed(db, {"a1": sl.from_json({"cpu": "64", "mem": "1e12"})},
                                 [sl.from_json({"cpu": "1", "mem": "1e9"})] * 40)
            inserts.clear()
            async with transaction(maker) as db:
                rows = (await db.scalars(select(SessionRow).where(SessionRow.id.in_(ids))
                                         )).all()
                for row in rows:
                    change_status(db, row, S.CANCELLED, StatusInfo.USER_REQUESTED,
                                  {"n": row.name})
            assert len(inserts) == 1, inserts  # 40 entries, one statement
            async with maker() as db:
                found = (await db.execute(select(SessionHistoryRow.session_id,
                                                 SessionHistoryRow.status,
                                                 SessionHistoryRow.status_data))).all()
            assert sorted((s, st, d["n"]) for s, st, d in found) == sorted(
                (r.id, "CANCELLED", r.name) for r in rows)

            # A savepoint that fails leaves no entry; the enclosing transaction's stay, and a
            # query after a flush sees them.
            async with transaction(maker) as db:
                ids2 = await seed_more(db, rows[0].owner_id, rows[0].project_id, 2)
                one, two = [await db.get(SessionRow, i) for i in ids2]
                assert one is not None and two is not None
                change_status(db, one, S.CANCELLED, StatusInfo.USER_REQUESTED)
                try:
                    async with db.begin_nested():
                        change_status(db, two, S.CANCELLED, StatusInfo.USER_REQUESTED)
                        raise RuntimeError("the step fails")
                except RuntimeError:
                    pass
                await db.flush()
                seen = await db.scalar(select(func.count()).select_from(SessionHistoryRow)
                                       .where(SessionHistoryRow.session_id.in_(ids2)))
                assert seen == 1
            async with maker() as db:
                kept = (await db.scalars(select(SessionHistoryRow.session_id).where(
                    SessionHistoryRow.session_id.in_(ids2)))).all()
                assert kept == [ids2[0]]

            # Queued after the last flush, nothing else dirty: still written at commit.
            async with transaction(maker) as db:
                row = await db.get(SessionRow, ids2[1])
                assert row is not None
                await db.refresh(row)
                change_status(db, row, S.CANCELLED, StatusInfo.USER_REQUESTED)
            async with maker() as db:
                assert await db.scalar(select(func.count()).select_from(SessionHistoryRow)
                                       .where(SessionHistoryRow.session_id == ids2[1])) == 1
        finally:
            await engine.dispose()

    run_async(go())


async def seed_more(db: Any, owner: str, project: str, n: int) -> list[str]:
    rows = [SessionRow(name=f"more{i}", owner_id=owner, creator_id=owner, project_id=project,
                       type="interactive", image="berth/python:3.11",
                       requested_slots={"cpu": "1", "mem": "1000000000"})
            for i in range(n)]
    db.add_all(rows)
    await db.flush()
    return [r.id for r in rows]
