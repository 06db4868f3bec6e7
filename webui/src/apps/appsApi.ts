// The app endpoints of a session, on top of api.ts's fetch wrapper.
import { request, requestText } from "../api";
import type { AppOpenBody, AppOpenResult, SessionApp } from "../types";

const base = (ref: string) => `/api/sessions/${encodeURIComponent(ref)}`;

export const appsApi = {
  list: (ref: string) => request<SessionApp[]>(`${base(ref)}/apps`),
  open: (ref: string, name: string, body: AppOpenBody) =>
    request<AppOpenResult>(`${base(ref)}/apps/${encodeURIComponent(name)}/open`, {
      method: "POST",
      body,
    }),
  close: (ref: string, name: string) =>
    request<void>(`${base(ref)}/apps/${encodeURIComponent(name)}`, { method: "DELETE" }),
  sshKey: (ref: string) => requestText(`${base(ref)}/ssh-key`),
};

/** The client route of the browser terminal of a session (full window, no app layout). */
export function terminalPath(sessionId: string): string {
  return `/terminal/${encodeURIComponent(sessionId)}`;
}
