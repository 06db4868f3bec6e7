"""Database tables (SQLAlchemy 2.0, typed). Row classes end in ``Row``; API schemas never do.

The model covers the whole product: users, projects, API keys, resource groups, agents,
images, sessions with their kernels and status history. Later features (folders, apps,
idle checks, commits) add tables next to these through Alembic migrations.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from berth.domain.status import AgentStatus, SessionResult, SessionStatus, SessionType


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator[Any]):
    """A StrEnum stored as its string value; rows always give back the enum member."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(self.enum(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="user")
    is_active: Mapped[bool] = mapped_column(default=True)
    resource_policy: Mapped[str | None] = mapped_column(
        ForeignKey("resource_policies.name"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdleSettingsColumns:
    """The idle-check settings a resource group (defaults) and a resource policy (overrides)
    both hold (:class:`berth.domain.idle.IdleSettings`; None: not set here). Seconds;
    thresholds: resource -> percent; combine "and"/"or". ``max_session_lifetime`` and
    ``idle_timeout`` are declared by each table (policies had them first)."""

    utilization_window: Mapped[int | None] = mapped_column(default=None)
    grace_period: Mapped[int | None] = mapped_column(default=None)
    utilization_thresholds: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), default=None)
    utilization_combine: Mapped[str | None] = mapped_column(String(3), default=None)
    warn_before: Mapped[int | None] = mapped_column(default=None)


class ResourcePolicyRow(IdleSettingsColumns, Base):
    """Limits for the users or projects that name it. ``None`` (and a slot absent from
    ``total_slots``) means unlimited. Durations are whole seconds."""

    __tablename__ = "resource_policies"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    #: slot name -> decimal string: what all of the scope's occupying sessions may hold.
    total_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_concurrent_sessions: Mapped[int | None] = mapped_column(default=None)
    max_pending_sessions: Mapped[int | None] = mapped_column(default=None)
    max_containers_per_session: Mapped[int | None] = mapped_column(default=None)
    max_session_lifetime: Mapped[int | None] = mapped_column(default=None)
    idle_timeout: Mapped[int | None] = mapped_column(default=None)
    max_folders: Mapped[int | None] = mapped_column(default=None)
    max_customized_images: Mapped[int | None] = mapped_column(default=None)
    #: The idle settings (:class:`IdleSettingsColumns`, and the two durations above)
    #: override the resource group's; None takes the group's.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    resource_policy: Mapped[str | None] = mapped_column(
        ForeignKey("resource_policies.name"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectMemberRow(Base):
    __tablename__ = "project_members"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)


class ApiKeyRow(Base):
    """An API key. The secret is shown once; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    access_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginRow(Base):
    """A browser login (server-side login session). The cookie holds ``<id>.<secret>``; only
    the secret's SHA-256 is stored. Ends at ``expires_at``, at logout, or when revoked."""

    __tablename__ = "logins"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ResourceGroupRow(IdleSettingsColumns, Base):
    """A named set of agents. Open to everyone while no project or user is linked to it
    (``resource_group_projects``/``resource_group_users``); else to those linked only."""

    __tablename__ = "resource_groups"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Order within a priority: fifo, lifo or drf (dominant resource fairness).
    scheduler: Mapped[str] = mapped_column(String(8), default="fifo")
    #: dispersed (spread over agents) or concentrated (pack onto the fullest that fits).
    agent_selection: Mapped[str] = mapped_column(String(16), default="dispersed")
    allowed_session_types: Mapped[list[Any]] = mapped_column(
        default=lambda: ["interactive", "batch"])
    #: Seconds a session may wait in the queue before it is cancelled; 0: no limit.
    pending_timeout: Mapped[int] = mapped_column(default=0)
    #: Step of accelerator shares (a decimal in (0, 1]), and whether shares pack onto the
    #: most used device that fits (fill) or go to the least used (spread).
    accelerator_quantum: Mapped[str] = mapped_column(String(16), default="0.1")
    accelerator_policy: Mapped[str] = mapped_column(String(8), default="fill")
    #: Whether the group's kernels may become root with ``sudo`` (e.g. to ``apt-get install``):
    #: kernels then start without ``no-new-privileges`` and with a few capabilities in their
    #: bounding set (``berth.agent.backends.docker.SUDO_CAPS``). Off by default.
    allow_sudo: Mapped[bool] = mapped_column(default=False)
    #: Idle check defaults (these two and :class:`IdleSettingsColumns`; None: off unless a
    #: resource policy sets it).
    max_session_lifetime: Mapped[int | None] = mapped_column(default=None)
    idle_timeout: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResourceGroupProjectRow(Base):
    __tablename__ = "resource_group_projects"
    resource_group: Mapped[str] = mapped_column(
        ForeignKey("resource_groups.name"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True,
                                            index=True)


class ResourceGroupUserRow(Base):
    __tablename__ = "resource_group_users"
    resource_group: Mapped[str] = mapped_column(
        ForeignKey("resource_groups.name"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


GLOBAL_PRESET_SQL = "resource_group IS NULL"


class ResourcePresetRow(Base):
    """A named resource set the launcher offers: global (``resource_group`` NULL) or for one
    group. Names are unique among the global presets and within each group."""

    __tablename__ = "resource_presets"
    __table_args__ = (
        Index("uq_resource_presets_global_name", "name", unique=True,
              sqlite_where=text(GLOBAL_PRESET_SQL), postgresql_where=text(GLOBAL_PRESET_SQL)),
        Index("uq_resource_presets_group_name", "resource_group", "name", unique=True),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    resource_group: Mapped[str | None] = mapped_column(
        ForeignKey("resource_groups.name"), default=None)
    #: slot name -> decimal string (cpu, mem, shmem, accelerator slots).
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentRow(Base):
    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(256))
    resource_group: Mapped[str] = mapped_column(ForeignKey("resource_groups.name"))
    status: Mapped[AgentStatus] = mapped_column(
        StrEnumType(AgentStatus), default=AgentStatus.ALIVE
    )
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[str] = mapped_column(String(32), default="")
    #: What the agent reports about itself beyond capacity: port range, CPU set, ...
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: False: an admin took it out of scheduling (its sessions keep running).
    schedulable: Mapped[bool] = mapped_column(default=True)
    first_contact: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat: Mapped[datetime] = mapped_column(default=utcnow)


class ImageRow(Base):
    """An environment image known to at least one agent."""

    __tablename__ = "images"
    ref: Mapped[str] = mapped_column(String(256), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    apps: Mapped[list[Any]] = mapped_column(default=list)
    min_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    agents: Mapped[list[Any]] = mapped_column(default=list)
    owner_id: Mapped[str | None] = mapped_column(default=None)  # customized images
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


ENDED_SQL = "status NOT IN ('TERMINATED', 'CANCELLED', 'ERROR')"


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        # Names are unique per owner among sessions not yet ended, enforced by the database.
        Index(
            "uq_sessions_owner_active_name",
            "owner_id",
            "name",
            unique=True,
            sqlite_where=text(ENDED_SQL),
            postgresql_where=text(ENDED_SQL),
        ),
        # The list's counts per type (services/sessions._count_by_type), by status or owner.
        Index("ix_sessions_status_type", "status", "type"),
        Index("ix_sessions_owner_status_type", "owner_id", "status", "type"),
        Index("ix_sessions_owner_created", "owner_id", "created_at"),
        Index("ix_sessions_queue", "status", "resource_group", "priority", "created_at"),
        # Heartbeats look for the sessions whose status changed since the previous one.
        Index("ix_sessions_status_changed", "status_changed_at"),
        # The list: one index per sort key yields a page in order (and its reverse).
        *(Index(f"ix_sessions_{key}_created", column, "created_at") for key, column in (
            ("name", "name"), ("status", "status"), ("type", "type"), ("image", "image"),
            ("started", "started_at"), ("agent", "agent_id"), ("creator", "creator_id"))),
        Index("ix_sessions_created", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    creator_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    type: Mapped[SessionType] = mapped_column(StrEnumType(SessionType))
    status: Mapped[SessionStatus] = mapped_column(
        StrEnumType(SessionStatus), default=SessionStatus.PENDING
    )
    status_info: Mapped[str] = mapped_column(String(64), default="created")
    status_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[SessionResult] = mapped_column(
        StrEnumType(SessionResult), default=SessionResult.UNDEFINED
    )
    image: Mapped[str] = mapped_column(String(256))
    resource_group: Mapped[str] = mapped_column(String(64), default="default")
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    designated_agent: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Higher first in the queue (0-100).
    priority: Mapped[int] = mapped_column(default=10)
    requested_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    environ: Mapped[dict[str, Any]] = mapped_column(default=dict)
    startup_command: Mapped[str | None] = mapped_column(Text, default=None)
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    cluster_mode: Mapped[str] = mapped_column(String(16), default="single-node")
    cluster_size: Mapped[int] = mapped_column(default=1)
    #: Cluster sessions: the OpenSSH private key (PEM) its kernels share; None for size 1.
    cluster_secret: Mapped[str | None] = mapped_column(Text, default=None)
    preopen_ports: Mapped[list[Any]] = mapped_column(default=list)
    #: Folder mounts (:class:`berth.domain.mounts.Mount` as JSON), dot-folders included.
    mounts: Mapped[list[Any]] = mapped_column(default=list)
    exit_code: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    terminated_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The last traffic between the user and the session as last flushed (the manager keeps
    #: newer times in memory: :mod:`berth.manager.services.activity`); None: none yet.
    last_activity_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Idle warnings sent: check -> the deadline warned of (ISO text), so that a restarted
    #: manager does not send them again.
    idle_warned: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True),
                                                              default=None)
    kernels: Mapped[list[KernelRow]] = relationship(
        back_populates="session", order_by="KernelRow.cluster_idx", lazy="selectin"
    )


class SessionHistoryRow(Base):
    """One status change of a session: the story of why it is where it is."""

    __tablename__ = "session_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str] = mapped_column(String(64))
    status_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class KernelRow(Base):
    __tablename__ = "kernels"
    __table_args__ = (
        # The devices held on an agent (the scheduler's snapshot): the few kernels with some.
        Index("ix_kernels_devices", "agent_id",
              sqlite_where=text("accelerators IS NOT NULL"),
              postgresql_where=text("accelerators IS NOT NULL")),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    role: Mapped[str] = mapped_column(String(8), default="main")
    cluster_idx: Mapped[int] = mapped_column(default=1)
    cluster_hostname: Mapped[str] = mapped_column(String(64), default="main1")
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    container_id: Mapped[str | None] = mapped_column(String(80), default=None)
    status: Mapped[SessionStatus] = mapped_column(
        StrEnumType(SessionStatus), default=SessionStatus.PENDING
    )
    status_info: Mapped[str] = mapped_column(String(64), default="created")
    exit_code: Mapped[int | None] = mapped_column(default=None)
    app_ports: Mapped[list[Any]] = mapped_column(default=list)
    #: The accelerator devices the scheduler gave this kernel, one allocation per plugin
    #: (:meth:`berth.domain.devices.Allocation.to_json`); NULL: none.
    accelerators: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True),
                                                          default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    terminated_at: Mapped[datetime | None] = mapped_column(default=None)
    session: Mapped[SessionRow] = relationship(back_populates="kernels")


class LaunchRow(Base):
    """A launch remembered for the launcher's recent history (per user, on the server)."""

    __tablename__ = "launches"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    pinned: Mapped[bool] = mapped_column(default=False)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppRouteRow(Base):
    """An opened app: the proxy serves ``proxy_port`` and forwards to the kernel's
    ``container_port``, published on the agent's host as ``target_host:host_port``. Removed
    when the app is closed or the session ends."""

    __tablename__ = "app_routes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    kernel_id: Mapped[str] = mapped_column(String(36))
    app: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(16))
    proxy_port: Mapped[int] = mapped_column(Integer, unique=True)
    container_port: Mapped[int | None] = mapped_column(default=None)
    target_host: Mapped[str] = mapped_column(String(256))
    host_port: Mapped[int] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(default=False)
    allowed_ips: Mapped[list[Any]] = mapped_column(default=list)
    app_token: Mapped[str] = mapped_column(String(128), default="")  # e.g. Jupyter's token
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_traffic_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("uq_app_routes_session_app", "session_id", "app", unique=True),)


READY_SQL = "status = 'ready'"


class FolderRow(Base):
    """A storage folder: a directory ``<host path>/folders/<id>`` on a folder host, owned by a
    user or by a project. Deleting moves it to the trash (``status`` ``trashed``); only a
    purge removes the directory. Names are unique per owner among folders not in the trash."""

    __tablename__ = "folders"
    __table_args__ = (
        Index("uq_folders_user_name", "owner_user_id", "name", unique=True,
              sqlite_where=text(READY_SQL + " AND owner_user_id IS NOT NULL"),
              postgresql_where=text(READY_SQL + " AND owner_user_id IS NOT NULL")),
        Index("uq_folders_project_name", "owner_project_id", "name", unique=True,
              sqlite_where=text(READY_SQL + " AND owner_project_id IS NOT NULL"),
              postgresql_where=text(READY_SQL + " AND owner_project_id IS NOT NULL")),
        Index("ix_folders_owner_user", "owner_user_id"),
        Index("ix_folders_owner_project", "owner_project_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(64))
    owner_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    owner_project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), default=None)
    creator_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    usage_mode: Mapped[str] = mapped_column(String(16), default="general")
    permission: Mapped[str] = mapped_column(String(2), default="rw")
    status: Mapped[str] = mapped_column(String(16), default="ready")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    trashed_at: Mapped[datetime | None] = mapped_column(default=None)


class FolderShareRow(Base):
    """A folder shared by its owner with another user, read-only or read-write."""

    __tablename__ = "folder_shares"
    folder_id: Mapped[str] = mapped_column(ForeignKey("folders.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    permission: Mapped[str] = mapped_column(String(2), default="ro")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommitRow(Base):
    """A commit task: a RUNNING session's kernel being saved as its owner's customized image
    (:mod:`berth.domain.commits`, :mod:`berth.manager.services.commits`). ``status`` pending,
    running, done or failed (``reason`` says why); ``phase``/``progress`` as the agent last
    reported; ``size`` in bytes once the image exists."""

    __tablename__ = "commits"
    __table_args__ = (
        Index("ix_commits_session", "session_id"),
        Index("ix_commits_owner", "owner_id"),
        Index("ix_commits_status", "status"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    agent_id: Mapped[str] = mapped_column(String(64))
    kernel_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    phase: Mapped[str] = mapped_column(String(16), default="preparing")
    progress: Mapped[int] = mapped_column(default=0)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
