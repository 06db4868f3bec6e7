"""The manager <-> agent protocol (:data:`RPC_VERSION`). Both sides import only these models.

Manager -> agent (agent's HTTP server, ``/v1``, bearer = shared agent token):
  ``POST /v1/kernels`` (:class:`CreateKernel`) -> 202; the agent creates the container in the
  background and reports a :class:`KernelEvent` (``started`` or ``create-failed``).
  ``DELETE /v1/kernels/{id}`` -> :class:`DestroyResult`; idempotent, also for unknown kernels.
  ``GET /v1/kernels/{id}/logs?follow=&tail=`` -> text stream (kept after the kernel ends).
  ``POST /v1/kernels/{id}/apps`` (:class:`StartApp`) -> :class:`AppStarted` once the app
  answers on its published port (idempotent: a running app is left alone).
  ``GET /v1/kernels/{id}/ssh-key`` -> the session's private SSH key (text).
  ``WS /v1/kernels/{id}/terminal?cols=&rows=``: a shell (tmux when the image has it);
  text frames in: JSON ``{"type": "input", "data": str}`` / ``{"type": "resize", "cols",
  "rows"}``; binary frames out: terminal output; a text frame ``{"type": "error"}`` on failure.
Agent -> manager (``/api/agent/v1``, same bearer):
  ``POST /heartbeat`` (:class:`Heartbeat`) -> :class:`HeartbeatReply`: the agent's state
  every few seconds and at start, complete (a full beat) or as the changes since the beat the
  manager last acknowledged (a delta); the manager reconciles sessions against it, so a lost
  event is repaired by the next heartbeat. ``POST /events`` (:class:`KernelEvent`): a change
  as soon as it happens.
  ``POST /usage`` (:class:`UsageReport`) -> :class:`UsageReply`: one sampling round of the
  running kernels' live usage every ``usage_interval`` seconds; the reply names the kernels
  whose whole window the manager wants again (it does not know them: a manager restart).
Every message is idempotent: the receiver may get it twice or after a restart.

Versions: every message with a body carries ``rpc_version``; each side reads that field
before anything else (:func:`parse`) and answers a different version with a 400 naming both
(:func:`version_problem`), so a manager and an agent of different versions fail loudly at
the first message instead of misreading each other's fields.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field, model_validator

#: 2: apps name their ports container_port / host_port; 3: folder mounts; 4: cluster sessions
#: (``CreateKernel.cluster``) and what an agent says about itself (``Heartbeat.info``: its
#: port range and CPU set); 5: accelerators (``CreateKernel.accelerators``,
#: ``Heartbeat.accelerators``); 6: live usage (:class:`UsageReport`, :class:`UsageReply`);
#: 7: ``CreateKernel.sudo``; 8: batches (``CreateKernels``, ``KernelEvents``) and delta
#: heartbeats (``Heartbeat.epoch/seq/base/gone/kernel_count``, :class:`HeartbeatReply`).
RPC_VERSION = 8
M = TypeVar("M", bound=BaseModel)


class VersionMismatch(ValueError):
    """The message is of another RPC version; ``str()`` names both (answered 400)."""


def version_problem(version: object) -> str | None:
    """Why a message of ``version`` cannot be read here, or None when it can."""
    if type(version) is int and version == RPC_VERSION:
        return None
    return f"rpc_version {version} is not supported (need {RPC_VERSION})"


def parse(model: type[M], raw: bytes | str) -> M:
    """Read a message: its ``rpc_version`` first (raises :class:`VersionMismatch`), then the
    fields (raises pydantic.ValidationError). A body that is not a JSON object is read
    as having no version."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    version = data.get("rpc_version") if isinstance(data, dict) else None
    if problem := version_problem(version):
        raise VersionMismatch(problem)
    return model.model_validate(data)


class AppPort(BaseModel):
    """A service inside the kernel: ``name`` over ``protocol`` on ``container_port``."""

    name: str
    protocol: str
    container_port: int
    host_port: int | None = None  # published on 127.0.0.1 once the container runs


class ImageInfo(BaseModel):
    ref: str
    display_name: str
    version: str
    apps: list[AppPort] = []
    min_cpu: float = 0
    min_mem: int = 0
    labels: dict[str, str] = {}


class MountSpec(BaseModel):
    """A storage folder's directory on the node, bind-mounted at ``target`` in the kernel."""

    source: str
    target: str
    read_only: bool = False


class ClusterSpec(BaseModel):
    """One kernel's place in a cluster session of ``size`` kernels (size > 1). Single-node
    today: every kernel is on one agent, in a private bridge network ``network`` where each is
    reachable by its hostname; multi-node will put them on an overlay network instead."""

    size: int
    role: str  # main | sub
    idx: int  # 1..size
    hostname: str  # main1, sub1, ...
    hostnames: list[str]  # every kernel's, main1 first
    network: str  # berth-<session id>
    #: The session's key pair (OpenSSH format): ~/.ssh/id_cluster and authorized_keys of
    #: every kernel, so ``ssh sub1`` works from any kernel without a password.
    ssh_private_key: str
    ssh_public_key: str


class CreateKernel(BaseModel):
    rpc_version: int = RPC_VERSION
    kernel_id: str
    session_id: str
    session_name: str
    owner_id: str
    session_type: str
    image: str
    cpu: float
    mem: int
    shmem: int
    environ: dict[str, str] = {}
    command: list[str] | None = None  # None: keep the container alive for interactive use
    preopen_ports: list[int] = []
    hostname: str = "main1"
    mounts: list[MountSpec] = []
    cluster: ClusterSpec | None = None  # None: a session of one kernel
    #: The devices the manager allocated to this kernel, one per accelerator plugin
    #: (:meth:`berth.domain.devices.Allocation.to_json`). The agent refuses (create-failed)
    #: an allocation of a plugin it lacks or one that clashes with what its kernels hold.
    accelerators: list[dict[str, Any]] = []
    #: The session's resource group allows ``sudo``: the kernel starts without
    #: ``no-new-privileges`` and with the capabilities root needs to install packages in its
    #: bounding set (it still starts as the unprivileged kernel user).
    sudo: bool = False


#: Most kernels in one :class:`CreateKernels` request (the manager sends bigger hand-overs
#: in several).
MAX_KERNELS_PER_BATCH = 64


class CreateKernels(BaseModel):
    """Several kernels handed to one agent in one request (a burst of placements costs one
    request per batch, not one per kernel). The agent accepts each independently, as if
    each came alone: accepting is idempotent per ``kernel_id``."""

    rpc_version: int = RPC_VERSION
    kernels: list[CreateKernel] = Field(min_length=1, max_length=MAX_KERNELS_PER_BATCH)


class KernelState(StrEnum):
    CREATING = "creating"
    RUNNING = "running"
    EXITED = "exited"


class KernelReport(BaseModel):
    kernel_id: str
    session_id: str
    state: KernelState
    container_id: str | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    app_ports: list[AppPort] = []
    #: What the kernel holds of accelerators (as in :attr:`CreateKernel.accelerators`),
    #: read back from its container after an agent restart.
    accelerators: list[dict[str, Any]] = []


class AcceleratorSlotInfo(BaseModel):
    """A slot an accelerator plugin offers: ``quantum`` is the step of amounts."""

    name: str
    unit: str = "count"
    description: str = ""
    quantum: str = "1"


class DeviceInfo(BaseModel):
    """One accelerator device; ``utilization`` (percent) and ``memory_used`` (bytes) are the
    last sample (None: not known)."""

    id: str
    memory: int
    model: str = ""
    utilization: float | None = None
    memory_used: int | None = None


class AcceleratorInfo(BaseModel):
    """An accelerator plugin of the agent: its slot prefix (``cuda``, ``mock-gpu``), slots and
    devices; ``reason`` says why it has no devices, when it has none."""

    name: str
    slots: list[AcceleratorSlotInfo] = []
    devices: list[DeviceInfo] = []
    reason: str = ""
    mock: bool = False


class Heartbeat(BaseModel):
    rpc_version: int = RPC_VERSION
    agent_id: str
    address: str
    resource_group: str
    capacity: dict[str, str]  # slot name -> decimal string
    images: list[ImageInfo] = []
    kernels: list[KernelReport] = []
    version: str = ""
    #: What the agent says about itself beyond capacity: ``port_range`` ("first-last", the
    #: host ports its kernels' published ports get; "" = any free port), ``cpuset`` (the
    #: cores its kernels run on; "" = all), ``backend``.
    info: dict[str, Any] = {}
    #: The agent's accelerator plugins with devices (none: no accelerator slots).
    accelerators: list[AcceleratorInfo] = []
    #: Random per agent process start; ``seq`` and ``base`` count beats within it.
    epoch: str = ""
    #: This beat's number within ``epoch``: 1, 2, ...
    seq: int = 0
    #: None: a FULL beat, ``kernels`` is every kernel the agent has. A number: a DELTA
    #: relative to the agent's beat ``base`` of this epoch, which the manager acknowledged
    #: (:attr:`HeartbeatReply.ack`): ``kernels`` holds only the reports that are new or
    #: differ from what beat ``base`` reported, ``gone`` the kernel ids beat ``base`` had that
    #: the agent no longer has.
    base: int | None = None
    #: In a delta: kernel ids of beat ``base`` that the agent no longer has.
    gone: list[str] = []
    #: How many kernels the agent has now (a delta's consistency check; None in a full beat
    #: means ``len(kernels)``; a delta must carry it).
    kernel_count: int | None = None

    @model_validator(mode="after")
    def _delta_counts(self) -> Heartbeat:
        if self.base is not None and self.kernel_count is None:
            raise ValueError("a delta heartbeat (base set) needs kernel_count")
        return self


class HeartbeatReply(BaseModel):
    """The manager's answer to a :class:`Heartbeat` (200).

    ``ack``: the seq of the newest beat of the agent's epoch the manager has handled: its
    memory of the agent's kernels is as of that beat, so the agent's next delta is relative
    to it (None: nothing of this epoch handled yet; send a full beat). ``full``: send a
    complete beat next, right away (a delta the manager could not apply)."""

    rpc_version: int = RPC_VERSION
    ack: int | None = None
    full: bool = False


class EventKind(StrEnum):
    STARTED = "started"
    CREATE_FAILED = "create-failed"
    EXITED = "exited"


class KernelEvent(BaseModel):
    rpc_version: int = RPC_VERSION
    agent_id: str
    kind: EventKind
    kernel: KernelReport
    error: str | None = Field(None, description="For create-failed: what went wrong.")


#: Most events in one :class:`KernelEvents` post.
MAX_EVENTS_PER_POST = 256


class KernelEvents(BaseModel):
    """The events an agent has gathered since its last post, oldest first (a burst of kernel
    starts costs one post per batch, not one per kernel). The manager applies each as if it
    came alone, in order; one that fails does not stop the others."""

    rpc_version: int = RPC_VERSION
    agent_id: str
    events: list[KernelEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_POST)


class StartApp(BaseModel):
    rpc_version: int = RPC_VERSION
    app: str
    protocol: str
    container_port: int
    host_port: int  # published on the agent's loopback
    args: dict[str, str] = {}  # jupyter: token; tensorboard: logdir


class AppStarted(BaseModel):
    app: str
    ready: bool
    detail: str = ""


class DestroyResult(BaseModel):
    kernel_id: str
    existed: bool
    exit_code: int | None = None


class KernelSample(BaseModel):
    """One sample of a kernel's usage (:class:`berth.agent.usage_parse.Sample` on the wire):
    ``at`` in Unix seconds, ``cpu_percent`` of one core, bytes and bytes per second; None (or
    absent): not known. ``accel_mem_limit``: the accelerator memory the kernel holds (whole
    devices' memory, or its share of one device's), bytes."""

    at: float = Field(ge=0, lt=253402300800)  # before the year 10000: a datetime
    cpu_percent: float | None = None
    mem_bytes: int | None = None
    mem_limit: int | None = None
    net_rx: int | None = None
    net_tx: int | None = None
    io_read: int | None = None
    io_write: int | None = None
    net_rx_rate: float | None = None
    net_tx_rate: float | None = None
    io_read_rate: float | None = None
    io_write_rate: float | None = None
    accel_percent: float | None = None
    accel_mem_bytes: int | None = None
    accel_mem_limit: int | None = None


class UsageReport(BaseModel):
    """One sampling round of an agent: per running kernel its newest sample, or its whole
    window (oldest first) where the manager asked for it. ``interval``: the agent's sampling
    period, seconds. Samples the manager holds already are ignored, so a repeat is harmless."""

    rpc_version: int = RPC_VERSION
    agent_id: str
    interval: float = Field(gt=0)
    kernels: dict[str, list[KernelSample]] = {}


class UsageReply(BaseModel):
    """``resend``: kernel ids of the report the manager knew nothing of (a manager restart,
    or a new kernel); the agent sends their whole window in its next round."""

    rpc_version: int = RPC_VERSION
    resend: list[str] = []


# --- commit to image (issue 12) ---------------------------------------------------------------
# Manager -> agent: ``POST /v1/kernels/{id}/commit`` (:class:`StartCommit`) -> 202
# :class:`CommitState`; ``GET /v1/commits/{task_id}`` -> :class:`CommitState` (404: the agent
# does not know the task, e.g. it restarted); ``DELETE /v1/images/{ref}`` -> 204 (idempotent).


class StartCommit(BaseModel):
    """Save a running kernel's container as the image ``ref`` (customized image), in the
    background. ``labels`` are set on the image (owner, name); ``task_id`` is the manager's
    id for the task, so a repeated request for the same task starts nothing new."""

    rpc_version: int = RPC_VERSION
    task_id: str
    ref: str
    labels: dict[str, str] = {}


class CommitState(BaseModel):
    """Where a commit task stands on its agent. ``status``: running, done or failed;
    ``phase``: preparing, committing, scrubbing, done or failed; ``progress`` 0-100 by phase;
    ``size`` (bytes) once the image exists; ``reason`` when it failed."""

    task_id: str
    kernel_id: str
    ref: str
    status: str
    phase: str
    progress: int = 0
    size: int | None = None
    reason: str = ""
