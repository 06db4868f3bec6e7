// The caller's browser logins (GET /api/logins, DELETE /api/logins/{id}).
import { request } from "../api";

/** One browser login (LoginOut in the OpenAPI document). */
export interface LoginInfo {
  id: string;
  created_at: string;
  /** Updated at most once a minute. */
  last_used_at: string;
  expires_at: string;
  user_agent: string;
  client_ip: string;
  /** The login this browser is using. */
  current: boolean;
}

export const loginsApi = {
  list: () => request<LoginInfo[]>("/api/logins"),
  revoke: (id: string) =>
    request<void>(`/api/logins/${encodeURIComponent(id)}`, { method: "DELETE" }),
};

/** A short name for a browser from its user agent, e.g. "Chrome on Linux". */
export function browserName(userAgent: string): string {
  if (!userAgent) return "Unknown browser";
  const browser =
    [
      ["Edg/", "Edge"],
      ["Firefox/", "Firefox"],
      ["Chrome/", "Chrome"],
      ["Safari/", "Safari"],
      ["curl/", "curl"],
      ["python-httpx/", "Python (httpx)"],
    ].find(([needle]) => userAgent.includes(needle))?.[1] ?? userAgent.split(" ")[0];
  const system =
    [
      ["Android", "Android"],
      ["iPhone", "iOS"],
      ["Windows", "Windows"],
      ["Mac OS X", "macOS"],
      ["Linux", "Linux"],
    ].find(([needle]) => userAgent.includes(needle))?.[1];
  return system ? `${browser} on ${system}` : browser;
}
