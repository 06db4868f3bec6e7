"""API schemas (pydantic). Families: ``XCreate`` (input), ``XUpdate``, ``XOut`` (output)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from berth.domain.status import AgentStatus, SessionResult, SessionStatus, SessionType
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
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class UserCreate(In):
    email: str = Field(
        max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", description="Login name; unique."
    )
    password: str = Field(min_length=8, max_length=1024)
    full_name: str = Field("", max_length=128)
    role: Literal["superadmin", "admin", "user"] = "user"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    full_name: str
    role: str
    is_active: bool
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
    label: str = Field("", max_length=64)


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


class AgentOut(BaseModel):
    id: str
    status: AgentStatus
    resource_group: str
    capacity: dict[str, str]
    occupied: dict[str, str]
    free: dict[str, str]
    last_heartbeat: datetime
    version: str


# ---- sessions ----------------------------------------------------------------------------
class ResourcesIn(In):
    cpu: float | None = Field(None, gt=0, le=1024, description="CPU cores (0.01 steps).")
    mem: str | int | None = Field(None, description="Memory: bytes or e.g. '2g', '512m'.")
    shmem: str | int | None = Field(
        None, description="Shared memory (/dev/shm), part of mem. Default 64m."
    )


class SessionCreate(In):
    model_config = ConfigDict(extra="forbid")
    type: SessionType = SessionType.INTERACTIVE
    name: str | None = Field(
        None, description="4-64 chars, ASCII letters, digits, _ - .; empty: generated."
    )
    image: str = Field(min_length=1, max_length=256, description="Environment image reference.")
    resources: ResourcesIn = ResourcesIn()
    environ: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    threads: int | None = Field(
        None,
        description="OMP_NUM_THREADS/OPENBLAS_NUM_THREADS; default: the session's CPU cores.",
    )
    count: int = Field(1, ge=1, le=20, description="Create this many identical sessions.")
    startup_command: str | None = Field(
        None, max_length=65536, description="Batch: the command to run (required for batch)."
    )
    starts_at: datetime | None = Field(
        None, description="Batch: do not start before this time (ISO 8601 with timezone)."
    )
    timeout: str | None = Field(
        None, max_length=32, description="Batch: terminate after this long, e.g. '30m', '2h'."
    )
    owner_email: str | None = Field(
        None, max_length=254, description="Admins: create the session for this user."
    )
    resource_group: str = Field("default", max_length=64)
    agent: str | None = Field(None, max_length=64, description="Run on this agent only.")
    preopen_ports: list[int] = Field(default_factory=list, max_length=64)
    cluster_mode: Literal["single-node", "multi-node"] = "single-node"
    cluster_size: int = Field(1, ge=1, le=64)


class SessionUpdate(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=256, description="New name (RUNNING sessions only).")


class TerminateIn(In):
    force: bool = Field(False, description="Kill at once, in any status, even if unreachable.")


class BulkTerminateIn(TerminateIn):
    ids: list[str] = Field(min_length=1, max_length=500)


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
    started_at: datetime | None
    terminated_at: datetime | None


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
    cluster_mode: str
    cluster_size: int
    created_at: datetime
    started_at: datetime | None
    terminated_at: datetime | None
    kernels: list[KernelOut]


class SessionDetailOut(SessionOut):
    history: list[HistoryOut]


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
    label: str | None = Field(None, max_length=64)
    pinned: bool | None = None


# ---- apps --------------------------------------------------------------------------------
class RouteOut(BaseModel):
    port: int = Field(description="The app proxy's port serving this app.")
    url: str = Field(description="The app's address (a private app also needs a permit).")
    public: bool
    allowed_ips: list[str]
    created_at: datetime
    last_traffic_at: datetime | None


class AppOut(BaseModel):
    name: str = Field(description="jupyter, tensorboard, sshd, terminal, or port-<N>.")
    title: str
    protocol: Literal["http", "tcp", "pty", "preopen"]
    port: int | None = Field(description="Port inside the kernel (none for the terminal).")
    route: RouteOut | None = Field(description="Set while the app is open.")


class AppOpenIn(In):
    model_config = ConfigDict(extra="forbid")
    public: bool = Field(False, description="Anyone with the URL may use it (no permit).")
    allowed_ips: list[str] = Field(
        default_factory=list, max_length=64,
        description="Only these client IPs/CIDRs may use the app (public or not).",
    )
    preferred_port: int | None = Field(
        None, ge=1, le=65535, description="Use this port of the proxy's pool when free."
    )
    logdir: str | None = Field(
        None, max_length=1024, description="TensorBoard: the log directory (default "
        "/home/work/logs); another directory restarts it."
    )


class SshInfo(BaseModel):
    host: str
    port: int
    user: str


class AppOpenOut(BaseModel):
    name: str
    url: str | None = Field(
        description="Open this in a browser: a one-time link that grants this browser the app "
        "(None for SSH: use `ssh`)."
    )
    port: int | None
    preferred_port_used: bool | None = Field(
        description="Whether the preferred port was given to the app (None: none asked)."
    )
    message: str
    ssh: SshInfo | None = None
