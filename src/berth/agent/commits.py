"""Commit tasks on the agent: a kernel saved as a customized image in the background.

The manager starts a task (``POST /v1/kernels/{id}/commit``, :class:`~berth.rpc.StartCommit`)
and reads its :class:`~berth.rpc.CommitState` (``GET /v1/commits/{task_id}``) until it is
done or failed. Tasks live in memory: after an agent restart the manager gets a 404 and fails
its task with that reason; the intermediate images of unfinished commits are removed when the
agent starts (:func:`start_commits`). One commit per kernel at a time.

Test seam: ``BERTH_AGENT_COMMIT_FAULT`` (read once when the agent starts): ``fail`` makes the
engine's commit fail (a bad request to the real engine); ``hold=<seconds>`` keeps each task
that long in its *committing* phase before the engine is asked (so that a test can act while
a commit runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from fastapi import FastAPI, HTTPException, Request, Response

from berth.agent.backends.base import BackendError, Committer
from berth.domain import commits as cm
from berth.rpc import CommitState, StartCommit

log = logging.getLogger(__name__)
#: Finished tasks kept for the manager to read (oldest dropped first).
KEEP_FINISHED = 200


class CommitTasks:
    """The commit tasks of one agent; ``backend`` must be a :class:`Committer`."""

    def __init__(self, backend: Committer, fault: str = "") -> None:
        self.backend = backend
        self.fault = fault
        self.states: dict[str, CommitState] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, kernel_id: str, req: StartCommit) -> CommitState:
        """Start the task (idempotent per ``req.task_id``). Raises BackendError when the
        kernel is being committed by another task."""
        if (state := self.states.get(req.task_id)) is not None:
            return state
        for other in self.states.values():
            if other.kernel_id == kernel_id and other.status == cm.CommitStatus.RUNNING:
                raise BackendError("the kernel is being committed already")
        state = CommitState(task_id=req.task_id, kernel_id=kernel_id, ref=req.ref,
                            status=cm.CommitStatus.RUNNING, phase=cm.Phase.PREPARING,
                            progress=cm.PROGRESS[cm.Phase.PREPARING])
        self.states[req.task_id] = state
        self.tasks[req.task_id] = asyncio.create_task(self._run(state, req.labels))
        self._forget_old()
        return state

    def get(self, task_id: str) -> CommitState | None:
        return self.states.get(task_id)

    def _phase(self, state: CommitState, phase: str) -> None:
        state.phase = phase
        state.progress = cm.PROGRESS[cm.Phase(phase)]

    async def _run(self, state: CommitState, labels: dict[str, str]) -> None:
        fault, hold = self.fault, 0.0
        if fault.startswith("hold="):
            hold, fault = float(fault.partition("=")[2]), ""

        def phase(name: str) -> None:
            self._phase(state, name)

        try:
            if hold:
                phase(cm.Phase.COMMITTING)
                await asyncio.sleep(hold)
            state.size = await self.backend.commit(state.kernel_id, state.ref, labels, phase,
                                                   fault)
            self._phase(state, cm.Phase.DONE)
            state.status = cm.CommitStatus.DONE
        except KeyError:
            self._fail(state, "the kernel's container does not exist (the session ended)")
        except BackendError as e:
            self._fail(state, str(e))
        except Exception as e:  # the task must end with a reason, whatever happened
            log.exception("commit %s failed", state.task_id)
            self._fail(state, f"unexpected error: {e}")
        finally:
            self.tasks.pop(state.task_id, None)

    def _fail(self, state: CommitState, reason: str) -> None:
        self._phase(state, cm.Phase.FAILED)
        state.status = cm.CommitStatus.FAILED
        state.reason = reason
        log.warning("commit %s of kernel %s failed: %s", state.task_id, state.kernel_id, reason)

    def _forget_old(self) -> None:
        finished = [k for k, s in self.states.items() if s.status != cm.CommitStatus.RUNNING]
        for task_id in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self.states[task_id]

    async def close(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def start_commits(backend: object) -> CommitTasks | None:
    """The agent's commit tasks (None when ``backend`` cannot commit), after removing the
    intermediate images an earlier run of this agent left."""
    if not isinstance(backend, Committer):
        return None
    try:
        removed = await backend.sweep_partial_images()
        if removed:
            log.info("removed %d intermediate image(s) of unfinished commits", removed)
    except Exception as e:  # the agent must start anyway
        log.warning("could not sweep intermediate commit images: %s", e)
    return CommitTasks(backend, os.environ.get("BERTH_AGENT_COMMIT_FAULT", ""))


def _tasks(request: Request) -> CommitTasks:
    tasks: CommitTasks | None = getattr(request.app.state, "commits", None)
    if tasks is None:
        raise HTTPException(501, "this agent's backend cannot commit kernels to images")
    return tasks


def add_commit_routes(app: FastAPI) -> None:
    """The agent's commit endpoints (see the module docstring and :mod:`berth.rpc`)."""
    from berth.agent.server import read_message  # the server imports this module

    @app.post("/v1/kernels/{kernel_id}/commit", status_code=202)
    async def start_commit(kernel_id: str, request: Request) -> CommitState:
        req = await read_message(request, StartCommit)
        try:
            return _tasks(request).start(kernel_id, req)
        except BackendError as e:
            raise HTTPException(409, str(e)) from e

    @app.get("/v1/commits/{task_id}")
    async def commit_state(task_id: str, request: Request) -> CommitState:
        state = _tasks(request).get(task_id)
        if state is None:
            raise HTTPException(404, "this agent has no such commit task")
        return state

    @app.delete("/v1/images/{ref:path}", status_code=204)
    async def delete_image(ref: str, request: Request) -> Response:
        try:
            await _tasks(request).backend.remove_image(ref)
        except BackendError as e:
            raise HTTPException(409, str(e)) from e
        return Response(status_code=204)
