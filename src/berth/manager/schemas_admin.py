"""API schemas of the admin resources: projects, resource groups, presets, resource policies,
agents (update), the user lookup and the resource check. Families as in
:mod:`berth.manager.schemas`: ``XCreate``, ``XUpdate`` (a field left out is unchanged; an
explicit ``null`` clears it where the field allows), ``XOut``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from berth.domain import limits as lim
from berth.domain import policy as pol
from berth.domain.status import SessionType
from berth.manager.schemas import In

EntityName = Annotated[str, Field(min_length=1, max_length=pol.ENTITY_NAME_MAX,
                                  description="1-64 characters: A-Z a-z 0-9 . _ -, starting "
                                  "with a letter or digit.")]
Description = Annotated[str, Field(max_length=256)]
SlotName = Annotated[str, Field(min_length=1, max_length=64)]
#: A slot amount: a number, or for mem/shmem bytes or size text such as '4g'.
SlotAmount = Annotated[StrictStr | StrictInt | StrictFloat, Field()]
Seconds = Annotated[int, Field(ge=1, le=pol.DURATION_SECONDS_MAX)]
Count = Annotated[int, Field(ge=0, le=pol.POLICY_COUNT_MAX)]
SLOTS_MAX = 32
MEMBERS_MAX = 1000


# ---- projects ------------------------------------------------------------------------------
class ProjectCreate(In):
    model_config = ConfigDict(extra="forbid")
    name: EntityName
    description: Description = ""
    is_active: bool = True
    resource_policy: EntityName | None = Field(None, description="A resource policy's name.")


class ProjectUpdate(In):
    model_config = ConfigDict(extra="forbid")
    name: EntityName | None = None
    description: Description | None = None
    is_active: bool | None = None
    resource_policy: EntityName | None = Field(
        None, description="A resource policy's name; null: no policy (unlimited).")


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    is_active: bool
    resource_policy: str | None
    members_count: int


class MemberIn(In):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=1, max_length=lim.EMAIL_MAX)


class MemberOut(BaseModel):
    id: str
    email: str
    full_name: str
    role: str


# ---- resource groups -----------------------------------------------------------------------
Scheduler = Literal["fifo", "lifo", "drf"]
AgentSelection = Literal["dispersed", "concentrated"]
SessionTypes = Annotated[list[SessionType], Field(min_length=1, max_length=2)]
Projects = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                     Field(max_length=MEMBERS_MAX, description="Projects (names or ids) whose "
                           "members may use the group.")]
Users = Annotated[list[Annotated[str, Field(min_length=1, max_length=lim.EMAIL_MAX)]],
                  Field(max_length=MEMBERS_MAX, description="Users (emails) who may use the "
                        "group.")]
Quantum = Annotated[Decimal, Field(
    gt=0, le=1, max_digits=4, decimal_places=3,
    description="Step of accelerator shares (a fraction of one device, e.g. 0.1 or 0.25).")]
DevicePolicy = Annotated[Literal["fill", "spread"], Field(
    description="Accelerator shares: fill packs onto the most used device that fits, spread "
    "goes to the least used.")]
PendingTimeout = Annotated[int, Field(ge=0, le=pol.DURATION_SECONDS_MAX,
                                      description="Seconds a session may wait in the queue "
                                      "before it is cancelled; 0: no limit.")]


# ---- idle checks (docs/idle-checks.md) ------------------------------------------------------
IdleSeconds = Annotated[int, Field(ge=0, le=lim.IDLE_SECONDS_MAX)]
IdleResource = Literal["cpu", "mem", "accel", "accel_mem"]
Threshold = Annotated[StrictInt | StrictFloat, Field(gt=0, le=lim.IDLE_THRESHOLD_MAX)]
Thresholds = Annotated[dict[IdleResource, Threshold], Field(
    description="Utilization thresholds: resource (cpu, mem, accel, accel_mem) -> percent in "
    "(0, 100]; {} turns the utilization check off.")]
IdleCombine = Annotated[Literal["and", "or"], Field(
    description="Utilization: reclaim when every requested resource (and) or some (or) is "
    "below its threshold.")]


class IdleFields(In):
    """Idle-check settings a group and a policy share. null: not set (a policy then takes
    its group's, a group none); 0 turns a duration off."""

    utilization_window: IdleSeconds | None = Field(
        None, description="Seconds the utilization average spans; null: the idle timeout.")
    grace_period: IdleSeconds | None = Field(
        None, description="Seconds after the start before the utilization check may act.")
    utilization_thresholds: Thresholds | None = None
    utilization_combine: IdleCombine | None = None
    warn_before: IdleSeconds | None = Field(
        None, description="Seconds before an idle check reclaims a session to warn its user "
        "(session.idle-warning); 0: no warning.")


class GroupIdleFields(IdleFields):
    max_session_lifetime: IdleSeconds | None = Field(
        None, description="Idle check: seconds after its start a session is reclaimed; 0: off.")
    idle_timeout: IdleSeconds | None = Field(
        None, description="Idle check: seconds without traffic between the user and a "
        "session (batch sessions are exempt) before it is reclaimed; 0: off.")


class IdleOutFields(BaseModel):
    utilization_window: int | None = None
    grace_period: int | None = None
    utilization_thresholds: dict[str, float] | None = None
    utilization_combine: str | None = None
    warn_before: int | None = None


SUDO_DOC = ("Whether the group's sessions may use sudo (root in the container, e.g. to apt-get "
            "install packages before a commit to image); off: kernels run without new "
            "privileges and sudo refuses.")


class ResourceGroupCreate(GroupIdleFields):
    """A group nobody (no project, no user) is linked to is open to every user."""

    model_config = ConfigDict(extra="forbid")
    name: EntityName
    description: Description = ""
    is_active: bool = True
    scheduler: Scheduler = Field("fifo", description="Order within a priority: fifo, lifo, "
                                 "or drf (dominant resource fairness).")
    agent_selection: AgentSelection = Field(
        "dispersed", description="dispersed: spread over agents; concentrated: pack.")
    allowed_session_types: SessionTypes = Field(
        default_factory=lambda: [SessionType.INTERACTIVE, SessionType.BATCH])
    pending_timeout: PendingTimeout = 0
    accelerator_quantum: Quantum = Decimal("0.1")
    accelerator_policy: DevicePolicy = "fill"
    allow_sudo: bool = Field(False, description=SUDO_DOC)
    projects: Projects = Field(default_factory=list)
    users: Users = Field(default_factory=list)


class ResourceGroupUpdate(GroupIdleFields):
    """``projects``/``users`` replace the group's access lists (both empty: open to all).
    An idle setting given as null is unset."""

    model_config = ConfigDict(extra="forbid")
    description: Description | None = None
    is_active: bool | None = None
    scheduler: Scheduler | None = None
    agent_selection: AgentSelection | None = None
    allowed_session_types: SessionTypes | None = None
    pending_timeout: PendingTimeout | None = None
    accelerator_quantum: Quantum | None = None
    accelerator_policy: DevicePolicy | None = None
    allow_sudo: bool | None = Field(None, description=SUDO_DOC)
    projects: Projects | None = None
    users: Users | None = None


class ResourceGroupOut(IdleOutFields):
    max_session_lifetime: int | None = None
    idle_timeout: int | None = None
    name: str
    description: str
    is_active: bool
    scheduler: str
    agent_selection: str
    allowed_session_types: list[str]
    pending_timeout: int
    accelerator_quantum: str = Field(description="Step of accelerator shares.")
    accelerator_policy: str = Field(description="fill or spread (accelerator shares).")
    allow_sudo: bool = Field(False, description=SUDO_DOC)
    projects: list[str] = Field(description="Project names with access (admins only; empty "
                                "for users).")
    users: list[str] = Field(description="User emails with access (admins only; empty for "
                             "users).")
    agents: int = Field(description="Agents in the group.")


# ---- presets -------------------------------------------------------------------------------
SlotsIn = Annotated[dict[SlotName, SlotAmount], Field(max_length=SLOTS_MAX)]


class PresetCreate(In):
    model_config = ConfigDict(extra="forbid")
    name: EntityName
    resource_group: EntityName | None = Field(None, description="None: a global preset.")
    slots: SlotsIn = Field(description="Per kernel: cpu (cores) and mem (bytes or '4g') "
                           "required; shmem and registered accelerator slots optional.")


class PresetUpdate(In):
    model_config = ConfigDict(extra="forbid")
    name: EntityName | None = None
    resource_group: EntityName | None = Field(None, description="null: make it global.")
    slots: SlotsIn | None = None


class PresetOut(BaseModel):
    id: str
    name: str
    resource_group: str | None
    slots: dict[str, str]


# ---- resource policies ---------------------------------------------------------------------
class PolicyFields(IdleFields):
    description: Description | None = None
    total_slots: SlotsIn | None = Field(
        None, description="What all of the scope's running sessions may hold together: cpu "
        "cores, mem (bytes or '64g'), accelerator slots; a slot left out is unlimited.")
    max_concurrent_sessions: Count | None = None
    max_pending_sessions: Count | None = None
    max_containers_per_session: Annotated[int, Field(ge=1, le=lim.CLUSTER_SIZE_MAX)] | None = (
        Field(None, description="The largest cluster size."))
    max_session_lifetime: Seconds | None = Field(
        None, description="Seconds; a batch timeout may not be longer, and it is recorded on "
        "every session as its timeout; also the idle check's lifetime (over the group's).")
    idle_timeout: IdleSeconds | None = Field(
        None, description="Idle check: seconds without traffic before a session is reclaimed "
        "(null: the group's; 0: off).")
    max_folders: Count | None = Field(
        None, description="Folders a user may own (trash included); replaces the "
        "max_folders_per_user setting.")
    max_customized_images: Count | None = None


class PolicyCreate(PolicyFields):
    """A field left out or null: no limit."""

    model_config = ConfigDict(extra="forbid")
    name: EntityName


class PolicyUpdate(PolicyFields):
    """A field left out is unchanged; null removes the limit."""

    model_config = ConfigDict(extra="forbid")


class PolicyOut(IdleOutFields):
    name: str
    description: str
    total_slots: dict[str, str]
    max_concurrent_sessions: int | None
    max_pending_sessions: int | None
    max_containers_per_session: int | None
    max_session_lifetime: int | None
    idle_timeout: int | None
    max_folders: int | None
    max_customized_images: int | None
    users: int = Field(description="Users with this policy.")
    projects: int = Field(description="Projects with this policy.")
    created_at: datetime


# ---- users and agents ----------------------------------------------------------------------
class UserUpdate(In):
    model_config = ConfigDict(extra="forbid")
    resource_policy: EntityName | None = Field(
        None, description="A resource policy's name; null: none (unlimited).")
    full_name: str | None = Field(None, max_length=lim.FULL_NAME_MAX)
    is_active: bool | None = None


class ProjectRef(BaseModel):
    id: str
    name: str


class UserLookupOut(BaseModel):
    id: str
    email: str
    full_name: str
    is_active: bool
    resource_policy: str | None
    projects: list[ProjectRef] = Field(description="The user's active projects, by name.")
    resource_groups: list[str] = Field(description="Active groups the user may use.")


class AgentUpdate(In):
    model_config = ConfigDict(extra="forbid")
    schedulable: bool | None = Field(None, description="False: no new sessions go there (its "
                                     "running sessions stay).")
    resource_group: EntityName | None = None


# ---- the resource check --------------------------------------------------------------------
class CheckPresetOut(BaseModel):
    id: str
    name: str
    resource_group: str | None
    slots: dict[str, str]
    allocatable: bool = Field(description="One kernel of it could start now: an agent has it "
                              "free and no policy has less left.")


class ScopeOut(BaseModel):
    name: str | None = Field(description="The policy's name (user, project) or the group's; "
                             "null: no policy.")
    limits: dict[str, str] = Field(description="Totals; an absent slot is unlimited.")
    used: dict[str, str] = Field(description="What the scope's occupying sessions hold.")
    remaining: dict[str, str] = Field(description="What is left; an absent slot is "
                                      "unlimited.")
    max_concurrent_sessions: int | None
    concurrent_sessions: int
    max_pending_sessions: int | None
    pending_sessions: int


class CheckScopes(BaseModel):
    user: ScopeOut
    project: ScopeOut
    group: ScopeOut


class CheckAgentOut(BaseModel):
    id: str
    free: dict[str, str]
    capacity: dict[str, str]


class SlotOut(BaseModel):
    """An accelerator slot the group's agents offer (an accelerator plugin's)."""

    name: str = Field(description="e.g. cuda.device (whole GPUs), cuda.shares (a fraction of "
                      "one GPU).")
    plugin: str = Field(description="The plugin (slot prefix): cuda, mock-gpu, ...")
    description: str
    step: str = Field(description="Amounts are multiples of this (1 for whole devices; the "
                      "group's quantum for shares).")
    mock: bool = Field(description="Offered by a mock plugin (tests and demos), not hardware.")


class CheckOut(BaseModel):
    resource_group: str
    project: str
    presets: list[CheckPresetOut]
    scopes: CheckScopes
    max_per_container: dict[str, str] = Field(
        description="Per slot, the largest schedulable agent's capacity in the group.")
    agents: list[CheckAgentOut] = Field(description="The group's alive schedulable agents.")
    accelerators: list[SlotOut] = Field(
        default_factory=list, description="The accelerator slots the group's agents offer "
        "(free per agent is what one new kernel could get: whole devices free, the largest "
        "share that fits on one device).")
