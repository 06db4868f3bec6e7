"""The SQLite engine (berth.manager.db.engine): statements run on the event loop's thread, and
writers of one process on one file take turns, even across engines."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import text

from berth.manager.db.engine import InlineSqlite, make_engine


def test_statements_run_on_the_loop_thread(tmp_path: Path) -> None:
    async def go() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
        seen: list[int] = []
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                assert isinstance(raw.driver_connection, InlineSqlite)
                sqlite = raw.driver_connection._conn
                sqlite.create_function("where_am_i", 0,
                                       lambda: seen.append(threading.get_ident()) or 1)
                assert (await conn.execute(text("SELECT where_am_i()"))).scalar() == 1
        finally:
            await engine.dispose()
        assert seen == [threading.get_ident()]

    asyncio.run(go())


def test_two_engines_on_one_file_take_turns_to_write(tmp_path: Path) -> None:
    """B's write waits for A's transaction to end (its turn), instead of blocking the loop in
    SQLite's busy handler while A cannot finish: both commit, B after A."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"

    async def go() -> list[str]:
        a, b = make_engine(url), make_engine(url)
        order: list[str] = []
        try:
            async with a.begin() as conn:
                await conn.execute(text("CREATE TABLE t (who TEXT)"))
            a_has_lock, b_asks = asyncio.Event(), asyncio.Event()

            async def writer_a() -> None:
                async with a.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES ('a')"))
                    a_has_lock.set()
                    await b_asks.wait()
                    for _ in range(10):  # B runs meanwhile, up to where it must wait
                        await asyncio.sleep(0)
                    order.append("a")

            async def writer_b() -> None:
                await a_has_lock.wait()
                b_asks.set()
                async with b.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES ('b')"))
                    order.append("b")

            await asyncio.wait_for(asyncio.gather(writer_a(), writer_b()), 5)
            async with b.connect() as conn:
                rows = [r[0] for r in await conn.execute(text("SELECT who FROM t"))]
            assert rows == ["a", "b"]
        finally:
            await a.dispose()
            await b.dispose()
        return order

    assert asyncio.run(go()) == ["a", "b"]
