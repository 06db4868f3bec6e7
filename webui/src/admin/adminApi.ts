// Typed calls for the admin pages and the launcher's resource step (projects, resource groups,
// presets, policies, agents, the resource check and the admins' user lookup).
import { request } from "../api";
import type {
  AdminAgent,
  Policy,
  Preset,
  Project,
  ProjectMember,
  ResourceCheck,
  ResourceGroup,
  UserLookup,
} from "./types";

const enc = encodeURIComponent;

export const adminApi = {
  projects: () => request<Project[]>("/api/projects"),
  createProject: (body: Partial<Project>) => request<Project>("/api/projects", { method: "POST", body }),
  updateProject: (name: string, body: Partial<Project>) =>
    request<Project>(`/api/projects/${enc(name)}`, { method: "PATCH", body }),
  deleteProject: (name: string) => request<void>(`/api/projects/${enc(name)}`, { method: "DELETE" }),
  members: (name: string) => request<ProjectMember[]>(`/api/projects/${enc(name)}/members`),
  addMember: (name: string, email: string) =>
    request<ProjectMember>(`/api/projects/${enc(name)}/members`, { method: "POST", body: { email } }),
  removeMember: (name: string, userId: string) =>
    request<void>(`/api/projects/${enc(name)}/members/${enc(userId)}`, { method: "DELETE" }),

  groups: () => request<ResourceGroup[]>("/api/resource-groups"),
  createGroup: (body: Partial<ResourceGroup>) =>
    request<ResourceGroup>("/api/resource-groups", { method: "POST", body }),
  updateGroup: (name: string, body: Partial<ResourceGroup>) =>
    request<ResourceGroup>(`/api/resource-groups/${enc(name)}`, { method: "PATCH", body }),
  deleteGroup: (name: string) => request<void>(`/api/resource-groups/${enc(name)}`, { method: "DELETE" }),

  presets: (group?: string) =>
    request<Preset[]>("/api/resource-presets", { query: { resource_group: group } }),
  createPreset: (body: Omit<Preset, "id">) => request<Preset>("/api/resource-presets", { method: "POST", body }),
  updatePreset: (id: string, body: Partial<Preset>) =>
    request<Preset>(`/api/resource-presets/${enc(id)}`, { method: "PATCH", body }),
  deletePreset: (id: string) => request<void>(`/api/resource-presets/${enc(id)}`, { method: "DELETE" }),

  policies: () => request<Policy[]>("/api/resource-policies"),
  createPolicy: (body: Partial<Policy>) => request<Policy>("/api/resource-policies", { method: "POST", body }),
  updatePolicy: (name: string, body: Partial<Policy>) =>
    request<Policy>(`/api/resource-policies/${enc(name)}`, { method: "PATCH", body }),
  deletePolicy: (name: string) => request<void>(`/api/resource-policies/${enc(name)}`, { method: "DELETE" }),

  agents: () => request<AdminAgent[]>("/api/agents"),
  updateAgent: (id: string, body: { schedulable?: boolean; resource_group?: string }) =>
    request<AdminAgent>(`/api/agents/${enc(id)}`, { method: "PATCH", body }),

  /** The resource check for the caller, or (admins) for the user ``ownerEmail``. */
  check: (group: string, project?: string, signal?: AbortSignal, ownerEmail?: string | null) =>
    request<ResourceCheck>("/api/resource-check", {
      query: { resource_group: group, project: project || undefined, owner_email: ownerEmail || undefined },
      signal,
    }),
  lookup: (email: string, signal?: AbortSignal) =>
    request<UserLookup>("/api/users/lookup", { query: { email }, signal }),
  /** Users (admins): to give a policy; the existing list call. */
  users: () => request<{ id: string; email: string; full_name: string; role: string; resource_policy?: string | null }[]>("/api/users"),
  updateUser: (id: string, body: { resource_policy?: string | null }) =>
    request<unknown>(`/api/users/${enc(id)}`, { method: "PATCH", body }),
};
