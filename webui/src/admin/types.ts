// Shapes of the admin API (projects, resource groups, presets, policies, agents, user lookup),
// as the issue-9 contract gives them. Slot maps are decimal strings: cpu in cores, mem and
// shmem in bytes; an absent slot is unlimited.
import type { Preset, ResourceCheck, SlotMap } from "../launcher/resources";

export type { Preset, ResourceCheck, SlotMap };

export interface Project {
  id: string;
  name: string;
  description: string;
  is_active: boolean;
  resource_policy: string | null;
  members_count: number;
}

export interface ProjectMember {
  id: string;
  email: string;
  full_name: string;
  role: string;
}

export type SchedulerKind = "fifo" | "lifo" | "drf";
export type AgentSelection = "dispersed" | "concentrated";

export interface ResourceGroup {
  name: string;
  description: string;
  is_active: boolean;
  scheduler: SchedulerKind;
  agent_selection: AgentSelection;
  allowed_session_types: string[];
  /** Seconds; 0 = never cancelled. */
  pending_timeout: number;
  /** Sessions may use sudo (root in the container). */
  allow_sudo: boolean;
  projects: string[];
  users: string[];
  agents: number;
}

export interface Policy {
  name: string;
  description: string;
  total_slots: SlotMap;
  max_concurrent_sessions: number | null;
  max_pending_sessions: number | null;
  max_containers_per_session: number | null;
  /** Seconds. */
  max_session_lifetime: number | null;
  /** Seconds. */
  idle_timeout: number | null;
  max_folders: number | null;
  max_customized_images: number | null;
  /** Idle-check overrides (null: the group's; see admin/idle.ts). */
  utilization_window?: number | null;
  grace_period?: number | null;
  utilization_thresholds?: Record<string, number> | null;
  utilization_combine?: string | null;
  warn_before?: number | null;
  /** Users and projects with this policy. */
  users?: number;
  projects?: number;
}

export interface AdminAgent {
  id: string;
  status: string;
  resource_group: string;
  capacity: SlotMap;
  occupied: SlotMap;
  free: SlotMap;
  last_heartbeat: string;
  version: string;
  info?: Record<string, unknown>;
  schedulable?: boolean;
}

export interface UserLookup {
  id: string;
  email: string;
  full_name: string;
  is_active?: boolean;
  resource_policy?: string | null;
  projects: { id: string; name: string }[];
  resource_groups: string[];
}

// ---- the generated API types must fit these (a compile error here means the API drifted) ----
import type { components } from "../api-schema";

type S = components["schemas"];
type Fits<A, B extends A> = B;
export type _Fits =
  | Fits<Project, S["ProjectOut"]>
  | Fits<ProjectMember, S["MemberOut"]>
  | Fits<Omit<ResourceGroup, "scheduler" | "agent_selection"> & { scheduler: string; agent_selection: string }, S["ResourceGroupOut"]>
  | Fits<Preset, S["PresetOut"]>
  | Fits<Policy, S["PolicyOut"]>
  | Fits<AdminAgent, S["AgentOut"]>
  | Fits<UserLookup, S["UserLookupOut"]>
  | Fits<ResourceCheck, S["CheckOut"]>;
