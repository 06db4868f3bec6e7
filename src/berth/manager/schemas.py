"""API schemas (pydantic). Families: ``XCreate`` (input), ``XUpdate``, ``XOut`` (output)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from berth.domain import limits as lim
from berth.domain.status import AgentStatus, SessionResult, SessionStatus, SessionType
from berth.manager.schemas_usage import IdleOut, UsageSummary
from berth.rpc import AppPort


class ErrorOut(BaseModel):
    detail: str


def text_problem(value: object) -> str | None:
    """Why ``value`` (a string, or lists/dicts of them) cannot be stored as text, or None.

    Databases refuse NUL characters (PostgreSQL) and unpaired surrogates (any UTF-8 store);
    JSON can carry both, so every input is checked before it reaches the database.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no unpaired surrogates)"
        return None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return next((p for p in map(text_problem, value) if p), None)
    return None


class In(BaseModel):
    """Base of every request body: no field may hold text a database would refuse."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        if problem := text_problem(value):
            raise ValueError(problem)
        return value


# ---- accounts ----------------------------------------------------------------------------
class LoginIn(In):
    email: str = Field(max_length=lim.EMAIL_MAX)
    password: str = Field(max_length=lim.PASSWORD_MAX)


class UserCreate(In):
    email: str = Field(
        max_length=lim.EMAIL_MAX, pattern=r"^[^@\s]+@[^@\s]+$", description="Login name; unique."
    )
    password: str = Field(min_length=8, max_length=lim.PASSWORD_MAX)
    full_name: str = Field("", max_length=lim.FULL_NAME_MAX)
    role: Literal["superadmin", "admin", "user"] = "user"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    full_name: str
    role: str
    is_active: bool
    resource_policy: str | None = Field(None, description="The user's resource policy "
                                        "(null: none, unlimited).")
    created_at: datetime


class TokenOut(BaseModel):
    token: str = Field(description="Shown once: '<access key>.<secret>'.")
    access_key: str
    user: UserOut


class TokenCreate(LoginIn):
    """Email + password for a new API key (the CLI's and SDK's login)."""

    label: str = Field("cli", max_length=64, description="What the key is for.")


class LoginOut(BaseModel):
    """A browser login of the caller's."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    created_at: datetime
    last_used_at: datetime = Field(description="Updated at most once a minute.")
    expires_at: datetime
    user_agent: str
    client_ip: str
    current: bool = Field(False, description="The login this very request came with.")


class LoggedInOut(BaseModel):
    """The answer to a browser login; the login itself is in the HttpOnly cookie."""

    user: UserOut
    login: LoginOut


class KeyCreate(In):
    label: str = Field("", max_length=lim.LABEL_MAX)


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    access_key: str
    label: str
    created_at: datetime
    last_used_at: datetime | None


class KeyCreatedOut(KeyOut):
    token: str = Field(description="Shown once: '<access key>.<secret>'.")


# ---- images and agents -------------------------------------------------------------------
class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    ref: str
    display_name: str
    version: str
    apps: list[AppPort]
    min_slots: dict[str, str]
    labels: dict[str, str]
    agents: list[str]


class DeviceUseOut(BaseModel):
    """An accelerator device of an agent and what kernels hold of it now."""

    plugin: str = Field(description="The plugin (slot prefix): cuda, mock-gpu, ...")
    id: str
    model: str
    memory: int = Field(description="Bytes.")
    state: str = Field(description="free, whole (one kernel holds it) or shared (shares).")
    shares_used: str = Field(description="1 when held whole.")
    shares_free: str = Field(description="The largest share a new kernel could get on it.")
    kernels: list[str] = Field(description="Ids of the kernels holding it.")


class AgentOut(BaseModel):
    id: str
    status: AgentStatus
    resource_group: str
    capacity: dict[str, str]
    occupied: dict[str, str]
    free: dict[str, str]
    last_heartbeat: datetime
    version: str
    info: dict[str, Any] = Field(default_factory=dict, description="What the agent reports "
                                 "about itself: port range, CPU set, ...")
    schedulable: bool = Field(True, description="False: an admin took it out of scheduling "
                              "(its running sessions stay).")
    devices: list[DeviceUseOut] = Field(
        default_factory=list, description="Accelerator devices and their use (fragmentation: "
        "shares free on several devices do not add up for one kernel).")


# ---- sessions ----------------------------------------------------------------------------
#: Bytes, or text such as '512m'. The bounds are checked by ``_bounded_size`` (a union of
#: constrained types would report each member's error under a field named after the member).
SIZE_SCHEMA: dict[str, JsonValue] = {
    "maxLength": lim.SIZE_TEXT_MAX, "exclusiveMinimum": 0, "maximum": lim.MEM_MAX
}
EnvName = Annotated[str, Field(min_length=1, max_length=lim.ENV_NAME_MAX)]
#: Characters here; the rule counts UTF-8 bytes (docs/limits.md).
EnvValue = Annotated[str, Field(max_length=lim.ENV_VALUE_MAX)]
Port = Annotated[int, Field(ge=lim.PORT_MIN, le=lim.PORT_MAX)]
SessionRef = Annotated[str, Field(min_length=1, max_length=lim.SESSION_REF_MAX)]
AcceleratorAmount = Annotated[float, Field(ge=0, le=lim.ACCELERATOR_MAX, allow_inf_nan=False)]


class ResourcesIn(In):
    """cpu, mem and shmem; other keys are accelerator slots by name (refused by name unless
    an accelerator registered them: ``berth.domain.slots.ACCELERATOR_SLOTS``)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, AcceleratorAmount] = Field(init=False)
    cpu: float | None = Field(
        None, gt=0, le=lim.CPU_MAX, allow_inf_nan=False,
        description=f"CPU cores: up to {lim.CPU_MAX}, in steps of 0.01.",
    )
    mem: str | int | None = Field(
        None, json_schema_extra=SIZE_SCHEMA,
        description="Memory: bytes or e.g. '2g', '512m'; 64m to 64t.",
    )
    shmem: str | int | None = Field(
        None, json_schema_extra=SIZE_SCHEMA,
        description="Shared memory (/dev/shm), part of mem. Default 64m.",
    )

    @field_validator("mem", "shmem")
    @classmethod
    def _bounded_size(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, str) and len(value) > lim.SIZE_TEXT_MAX:
            raise PydanticCustomError(
                "string_too_long", "String should have at most {max_length} characters",
                {"max_length": lim.SIZE_TEXT_MAX},
            )
        if isinstance(value, int) and not 0 < value <= lim.MEM_MAX:
            raise PydanticCustomError(
                "size_out_of_range", "must be between 1 byte and 64t ({le} bytes)",
                {"le": lim.MEM_MAX},
            )
        return value


class MountIn(In):
    model_config = ConfigDict(extra="forbid")
    folder: str = Field(min_length=1, max_length=lim.SESSION_REF_MAX,
                        description="A folder's id or name (yours, your project's, or shared "
                        "with you).")
    path: str | None = Field(
        None, max_length=lim.MOUNT_PATH_MAX,
        description="Where it appears: empty → /home/work/<name>; relative → under /home/work; "
        "absolute as is. Characters A-Z a-z 0-9 _ / . -; no overlaps; no system paths.")
    mode: Literal["rw", "ro"] | None = Field(
        None, description="rw or ro; empty: the most the folder allows you.")


class MountOut(BaseModel):
    folder_id: str
    folder: str
    path: str
    mode: Literal["rw", "ro"]


class SessionCreate(In):
    """Limits: docs/limits.md. Shape and bounds are checked here (all at once); the rules
    that need the database or the time are checked next, all at once too
    (:func:`berth.domain.launch.validate_launch`)."""

    model_config = ConfigDict(extra="forbid")
    type: SessionType = SessionType.INTERACTIVE
    name: str | None = Field(
        None, max_length=lim.NAME_MAX,
        description="4-64 chars, ASCII letters, digits, _ - .; empty: generated.",
    )
    image: str = Field(
        min_length=1, max_length=lim.IMAGE_REF_MAX, description="Environment image reference."
    )
    resources: ResourcesIn = ResourcesIn()
    environ: dict[EnvName, EnvValue] = Field(
        default_factory=dict, max_length=lim.ENV_COUNT_MAX,
        description=f"Environment variables: at most {lim.ENV_COUNT_MAX}, each value at most "
        "32 KiB and all together at most 256 KiB of UTF-8.",
    )
    threads: int | None = Field(
        None, ge=lim.THREADS_MIN, le=lim.THREADS_MAX,
        description="OMP_NUM_THREADS/OPENBLAS_NUM_THREADS; default: the session's CPU cores.",
    )
    count: int = Field(
        1, ge=1, le=lim.SESSIONS_PER_REQUEST_MAX, description="Create this many identical sessions."
    )
    startup_command: str | None = Field(
        None, max_length=lim.STARTUP_COMMAND_MAX,
        description="Batch: the command to run (required for batch); at most 64 KiB of UTF-8.",
    )
    starts_at: datetime | None = Field(
        None, description="Batch: do not start before this time (ISO 8601 with timezone); at "
        "most 1 day in the past and 365 days in the future.",
    )
    timeout: str | None = Field(
        None, max_length=lim.DURATION_TEXT_MAX,
        description="Batch: terminate after this long, e.g. '30m', '2h'; at most '365d'.",
    )
    owner_email: str | None = Field(
        None, max_length=lim.EMAIL_MAX, description="Admins: create the session for this user."
    )
    resource_group: str = Field("default", min_length=1, max_length=lim.GROUP_NAME_MAX)
    agent: str | None = Field(
        None, max_length=lim.AGENT_ID_MAX, description="Run on this agent only."
    )
    preopen_ports: list[Port] = Field(default_factory=list, max_length=lim.PREOPEN_PORTS_MAX)
    cluster_mode: Literal["single-node", "multi-node"] = "single-node"
    cluster_size: int = Field(1, ge=1, le=lim.CLUSTER_SIZE_MAX)
    mounts: list[MountIn] = Field(
        default_factory=list, max_length=lim.MOUNTS_MAX,
        description="Storage folders to mount; folders named '.NAME' of the owner are mounted "
        "at /home/work/.NAME in any case.")
    project: str | None = Field(
        None, min_length=1, max_length=64, description="The project (name or id) the sessions "
        "belong to; the owner must be a member. Default: the owner's first active project by "
        "name, else 'default'.")
    priority: int | None = Field(
        None, ge=0, le=100, description="0-100, higher first in the queue; default 10. Only "
        "admins may set more than 10.")


class SessionUpdate(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=256, description="New name (RUNNING sessions only).")


class TerminateIn(In):
    force: bool = Field(False, description="Kill at once, in any status, even if unreachable.")


class BulkTerminateIn(TerminateIn):
    ids: list[SessionRef] = Field(min_length=1, max_length=lim.BULK_TERMINATE_MAX)


class KernelDeviceOut(BaseModel):
    """A device the kernel holds, with its agent's last figures for the whole device."""

    plugin: str
    id: str
    mode: str = Field(description="whole or shares.")
    amount: str = Field(description="1 when whole; the fraction held for shares.")
    model: str
    memory: int = Field(description="The device's memory, bytes.")
    utilization: float | None = Field(description="The device's compute use, percent (all "
                                      "its kernels); null: not known.")
    memory_used: int | None = Field(description="The device's memory in use, bytes; null: "
                                    "not known.")


class KernelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    role: str
    cluster_hostname: str
    agent_id: str | None
    container_id: str | None
    status: SessionStatus
    status_info: str
    exit_code: int | None
    app_ports: list[AppPort]
    #: The accelerator devices the kernel holds, one allocation per plugin: ``slot_prefix``
    #: (``cuda``, ``mock-gpu``), ``mode`` (whole or shares) and ``devices`` (device id ->
    #: amount: 1 for whole, the fraction for shares).
    accelerators: list[dict[str, Any]] = []
    devices: list[KernelDeviceOut] = Field(
        default_factory=list, description="The devices held, with live figures from the "
        "agent's last heartbeat.")
    started_at: datetime | None
    terminated_at: datetime | None

    @field_validator("accelerators", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    status: str
    status_info: str
    status_data: dict[str, Any]
    at: datetime


class SessionOut(BaseModel):
    id: str
    name: str
    type: SessionType
    status: SessionStatus
    status_info: str
    status_data: dict[str, Any]
    status_changed_at: datetime
    result: SessionResult
    exit_code: int | None
    image: str
    owner_id: str
    owner_email: str
    creator_id: str
    project: str
    resource_group: str
    agent_id: str | None
    agent_status: AgentStatus | None = Field(
        None, description="State of the agent that runs the session, while it has not ended: "
        "LOST when the agent stopped sending heartbeats (its apps, terminal and logs may not "
        "answer; the session is kept and resumes when the agent comes back); null when the "
        "session has no agent (PENDING) or has ended.")
    requested: dict[str, str]
    environ: dict[str, str]
    startup_command: str | None
    starts_at: datetime | None
    timeout_seconds: int | None
    preopen_ports: list[int]
    mounts: list[MountOut] = Field(default_factory=list, description="Mounted folders.")
    cluster_mode: str
    cluster_size: int
    priority: int = Field(10, description="0-100, higher first in the queue.")
    queue_position: int | None = Field(
        None, description="PENDING: 1-based place among the PENDING sessions of its resource "
        "group, as the scheduler's last pass saw it; null otherwise.")
    created_at: datetime
    started_at: datetime | None
    terminated_at: datetime | None
    kernels: list[KernelOut]
    usage: UsageSummary | None = Field(
        None, description="RUNNING: the newest usage figures, summed over the kernels; null "
        "before the first sample or when not running.")


class SessionDetailOut(SessionOut):
    history: list[HistoryOut]
    idle: IdleOut | None = Field(
        None, description="RUNNING: the idle checks and how long each leaves the session; "
        "null otherwise.")


class SessionPage(BaseModel):
    items: list[SessionOut]
    total: int
    offset: int
    limit: int
    counts: dict[str, int] = Field(
        description="Sessions per type ('all', 'interactive', 'batch') with the same filters "
        "except type: for the page's tabs."
    )


class LaunchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    label: str = Field(description="A name the user gave this launch (default: session name).")
    pinned: bool = Field(description="Pinned launches are kept beyond the 5 most recent.")
    params: dict[str, Any] = Field(description="The SessionCreate body of the launch.")
    created_at: datetime


class LaunchUpdate(In):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, max_length=lim.LABEL_MAX)
    pinned: bool | None = None


# ---- apps --------------------------------------------------------------------------------
class RouteOut(BaseModel):
    proxy_port: int = Field(description="The app proxy's port serving this app.")
    url: str = Field(description="The app's address (a private app also needs a permit).")
    public: bool
    allowed_ips: list[str]
    created_at: datetime
    last_traffic_at: datetime | None


class AppOut(BaseModel):
    name: str = Field(description="jupyter, tensorboard, sshd, terminal, or port-<N>.")
    title: str
    protocol: Literal["http", "tcp", "pty", "preopen"]
    container_port: int | None = Field(
        description="The app's port inside the kernel (none for the terminal).")
    route: RouteOut | None = Field(description="Set while the app is open.")


class AppOpenIn(In):
    model_config = ConfigDict(extra="forbid")
    public: bool = Field(False, description="Anyone with the URL may use it (no permit).")
    allowed_ips: list[Annotated[str, Field(max_length=lim.IP_TEXT_MAX)]] = Field(
        default_factory=list, max_length=lim.ALLOWED_IPS_MAX,
        description="Only these client IPs/CIDRs may use the app (public or not).",
    )
    preferred_port: int | None = Field(
        None, ge=1, le=65535, description="Use this port of the proxy's pool when free."
    )
    logdir: str | None = Field(
        None, max_length=lim.LOGDIR_MAX, description="TensorBoard: the log directory (default "
        "/home/work/logs); another directory restarts it."
    )


class SshInfo(BaseModel):
    host: str
    port: int = Field(description="Where ssh connects (``ssh -p``): the app's proxy port.")
    user: str


class AppOpenOut(BaseModel):
    name: str
    url: str | None = Field(
        description="Open this in a browser: a one-time link that grants this browser the app "
        "(None for SSH: use `ssh`)."
    )
    proxy_port: int | None = Field(description="The app proxy's port serving this app "
                                   "(none for the terminal, which opens in Berth).")
    preferred_port_used: bool | None = Field(
        description="Whether the preferred port was given to the app (None: none asked)."
    )
    message: str
    ssh: SshInfo | None = None
