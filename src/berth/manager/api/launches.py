"""Recent launch history for the launcher (per user, on the server)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from berth.manager.api.deps import ActorDep, ManagerDep
from berth.manager.schemas import LaunchOut, LaunchUpdate
from berth.manager.services import launches

router = APIRouter(prefix="/api/launches", tags=["launches"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such launch of yours"}}


@router.get("")
async def list_launches(actor: ActorDep, m: ManagerDep) -> list[LaunchOut]:
    """Your pinned launches and your 5 most recent ones (pinned first, then newest)."""
    return [LaunchOut.model_validate(r) for r in await launches.list_launches(m.db, actor.id)]


@router.patch("/{launch_id}", responses=NOT_FOUND)
async def update_launch(
    launch_id: str, body: LaunchUpdate, actor: ActorDep, m: ManagerDep
) -> LaunchOut:
    """Rename or (un)pin a launch; pinned ones are kept beyond the 5 most recent."""
    try:
        row = await launches.update_launch(m.db, actor.id, launch_id, body.label, body.pinned)
    except LookupError as e:
        raise HTTPException(404, str(e)) from e
    return LaunchOut.model_validate(row)


@router.delete("/{launch_id}", status_code=204, responses=NOT_FOUND)
async def delete_launch(launch_id: str, actor: ActorDep, m: ManagerDep) -> None:
    try:
        await launches.delete_launch(m.db, actor.id, launch_id)
    except LookupError as e:
        raise HTTPException(404, str(e)) from e
