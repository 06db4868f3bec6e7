"""Recent launch history: the last RECENT launches of each user, plus the pinned ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth.manager.db.engine import transaction
from berth.manager.db.tables import LaunchRow

if TYPE_CHECKING:
    from berth.manager.schemas import SessionCreate

RECENT = 5


async def remember_launch(db: AsyncSession, user_id: str, req: SessionCreate) -> None:
    """Record a successful launch in the caller's transaction; forget unpinned launches
    beyond the newest RECENT."""
    params = req.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    params["image"] = req.image
    await db.execute(insert(LaunchRow).values(user_id=user_id, params=params,
                                              label=req.name or ""))
    newest = (select(LaunchRow.id)
              .where(LaunchRow.user_id == user_id, LaunchRow.pinned.is_(False))
              .order_by(LaunchRow.created_at.desc(), LaunchRow.id).limit(RECENT))
    await db.execute(delete(LaunchRow).where(
        LaunchRow.user_id == user_id, LaunchRow.pinned.is_(False),
        LaunchRow.id.not_in(newest.scalar_subquery())))


async def list_launches(maker: async_sessionmaker[AsyncSession], user_id: str) -> list[LaunchRow]:
    """Pinned first, then newest first."""
    async with maker() as db:
        rows = await db.scalars(
            select(LaunchRow)
            .where(LaunchRow.user_id == user_id)
            .order_by(LaunchRow.pinned.desc(), LaunchRow.created_at.desc())
        )
        return list(rows.all())


async def update_launch(
    maker: async_sessionmaker[AsyncSession],
    user_id: str,
    launch_id: str,
    label: str | None,
    pinned: bool | None,
) -> LaunchRow:
    """Rename or (un)pin one of the user's launches. LookupError if it is not theirs."""
    async with transaction(maker) as db:
        row = await db.get(LaunchRow, launch_id, with_for_update=True)
        if row is None or row.user_id != user_id:
            raise LookupError(f"no launch {launch_id}")
        if label is not None:
            row.label = label
        if pinned is not None:
            row.pinned = pinned
        return row


async def delete_launch(
    maker: async_sessionmaker[AsyncSession], user_id: str, launch_id: str
) -> None:
    async with transaction(maker) as db:
        row = await db.get(LaunchRow, launch_id)
        if row is None or row.user_id != user_id:
            raise LookupError(f"no launch {launch_id}")
        await db.delete(row)
