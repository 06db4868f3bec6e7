// The commit endpoints (docs/commit.md), on top of api.ts's fetch wrapper.
import { request } from "../api";
import type { components } from "../api-schema";

export type CommitTask = components["schemas"]["CommitOut"];
export type CustomizedImage = components["schemas"]["CustomizedImageOut"];

const enc = encodeURIComponent;

export const commitsApi = {
  /** Start saving a RUNNING interactive session as the customized image `name` (202). */
  commit: (ref: string, name: string) =>
    request<CommitTask>(`/api/sessions/${enc(ref)}/commit`, { method: "POST", body: { name } }),
  /** The session's commit tasks, newest first. */
  sessionCommits: (ref: string) => request<CommitTask[]>(`/api/sessions/${enc(ref)}/commits`),
  get: (id: string) => request<CommitTask>(`/api/commits/${enc(id)}`),
  /** Your customized images (admins with `everyone`: all users'). */
  customizedImages: (everyone = false) =>
    request<CustomizedImage[]>("/api/customized-images", { query: everyone ? { everyone: true } : undefined }),
  /** The full name keeps its '/' and ':' in the path (the route takes a path). */
  removeCustomized: (ref: string) =>
    request<void>(`/api/customized-images/${enc(ref).replace(/%2F/gi, "/").replace(/%3A/gi, ":")}`, {
      method: "DELETE",
    }),
};
