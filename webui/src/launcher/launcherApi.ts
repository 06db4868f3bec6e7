// The endpoints the launcher uses, on top of api.ts's fetch wrapper.
import { request } from "../api";
import type { Session } from "../types";
import type { AgentInfo, ImageInfo, SessionCreateBody } from "./form";

export interface Launch {
  id: string;
  label: string;
  pinned: boolean;
  params: Record<string, unknown>;
  created_at: string;
}

export const launcherApi = {
  images: () => request<ImageInfo[]>("/api/images"),
  agents: () => request<AgentInfo[]>("/api/agents"),
  launches: () => request<Launch[]>("/api/launches"),
  updateLaunch: (id: string, patch: { label?: string; pinned?: boolean }) =>
    request<Launch>(`/api/launches/${encodeURIComponent(id)}`, { method: "PATCH", body: patch }),
  deleteLaunch: (id: string) =>
    request<void>(`/api/launches/${encodeURIComponent(id)}`, { method: "DELETE" }),
  create: (body: SessionCreateBody, dryRun = false, signal?: AbortSignal) =>
    request<Session[]>("/api/sessions", {
      method: "POST",
      body,
      query: dryRun ? { dry_run: true } : undefined,
      signal,
    }),
};
