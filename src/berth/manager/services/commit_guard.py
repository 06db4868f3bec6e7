"""What a session's commit tasks mean for ending it (PRODUCT.md §8): while one is active,
normal termination is refused; a force-termination goes ahead and fails the task with that
reason (its driver then removes an image the engine finished anyway)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth.domain import commits as cm
from berth.manager.db.tables import CommitRow, utcnow

REFUSAL = ("the session is being committed to an image; wait until the commit ends, or "
           "force-terminate it (the commit then fails)")
FORCED = "the session was force-terminated during the commit"


async def check_termination(db: AsyncSession, session_id: str, force: bool) -> None:
    """Raise ValueError (:data:`REFUSAL`) when a commit of the session is active and
    ``force`` is not set; with ``force``, fail those commits (:data:`FORCED`)."""
    active = (await db.scalars(select(CommitRow).where(
        CommitRow.session_id == session_id,
        CommitRow.status.in_([str(s) for s in cm.ACTIVE])))).all()
    if active and not force:
        raise ValueError(REFUSAL)
    for task in active:
        task.status, task.phase, task.reason = (str(cm.CommitStatus.FAILED),
                                                str(cm.Phase.FAILED), FORCED)
        task.progress = cm.PROGRESS[cm.Phase.FAILED]
        task.finished_at = utcnow()
