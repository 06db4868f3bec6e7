// A typed fetch wrapper for the manager's API: same origin, cookie authentication.
import type { Session, SessionDetail, SessionPage, SessionUsage, User } from "./types";

export interface FieldError {
  /** Dotted path without the leading "body"/"query", e.g. "name" or "resources.mem". */
  field: string;
  message: string;
}

/** Any non-2xx answer. 422 answers carry one entry per field in `fields`. */
export class ApiError extends Error {
  readonly status: number;
  readonly fields: FieldError[];

  constructor(status: number, message: string, fields: FieldError[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
  }

  /** The message for one field (the first one), if the server named that field. */
  fieldMessage(field: string): string | undefined {
    return this.fields.find((f) => f.field === field)?.message;
  }
}

type UnauthorizedListener = () => void;
let onUnauthorized: UnauthorizedListener = () => undefined;

/** Called whenever an authenticated request answers 401 (the app goes back to login). */
export function setUnauthorizedHandler(listener: UnauthorizedListener): void {
  onUnauthorized = listener;
}

interface ValidationItem {
  loc?: (string | number)[];
  msg?: string;
}

/** Turn an error body into an ApiError. Also maps "field: message" 409 texts to the field. */
export function errorFrom(status: number, body: unknown): ApiError {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (Array.isArray(detail)) {
    const fields = (detail as ValidationItem[]).map((d) => {
      const loc = (d.loc ?? []).map(String);
      const path = ["body", "query", "path"].includes(loc[0] ?? "") ? loc.slice(1) : loc;
      return { field: path.join("."), message: d.msg ?? "invalid value" };
    });
    const text = fields.map((f) => (f.field ? `${f.field}: ${f.message}` : f.message)).join("; ");
    return new ApiError(status, text || "invalid request", fields);
  }
  const text = typeof detail === "string" ? detail : `request failed (${status})`;
  const match = /^([a-z_][a-z_.]*): (.+)$/.exec(text);
  const fields = match ? [{ field: match[1], message: match[2] }] : [];
  return new ApiError(status, text, fields);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Do not treat a 401 as "logged out" (the login form itself). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export function buildUrl(path: string, query?: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(path: string, opts: RequestOptions): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(buildUrl(path, opts.query), {
      method: opts.method ?? "GET",
      credentials: "same-origin",
      headers: opts.body !== undefined ? { "Content-Type": "application/json" } : undefined,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "cannot reach the Berth manager; check your connection");
  }
  if (response.ok) return response;
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401 && !opts.anonymous) onUnauthorized();
  throw errorFrom(response.status, body);
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const response = await send(path, opts);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export async function requestText(path: string, opts: RequestOptions = {}): Promise<string> {
  return (await send(path, opts)).text();
}

// ---- endpoints --------------------------------------------------------------------------
/** A browser login's answer: the login itself lives in the HttpOnly cookie. */
export interface LoginResult {
  user: User;
  login: { id: string; expires_at: string };
}

export const api = {
  login: (email: string, password: string) =>
    request<LoginResult>("/api/auth/login", {
      method: "POST",
      body: { email, password },
      anonymous: true,
    }),
  logout: () => request<void>("/api/auth/logout", { method: "POST" }),
  me: (anonymous = false) => request<User>("/api/users/me", { anonymous }),

  listSessions: (query: RequestOptions["query"], signal?: AbortSignal) =>
    request<SessionPage>("/api/sessions", { query, signal }),
  getSession: (ref: string) => request<SessionDetail>(`/api/sessions/${encodeURIComponent(ref)}`),
  renameSession: (ref: string, name: string) =>
    request<Session>(`/api/sessions/${encodeURIComponent(ref)}`, {
      method: "PATCH",
      body: { name },
    }),
  terminateSession: (ref: string, force: boolean) =>
    request<Session>(`/api/sessions/${encodeURIComponent(ref)}/terminate`, {
      method: "POST",
      body: { force },
    }),
  terminateMany: (ids: string[], force: boolean) =>
    request<Record<string, string>>("/api/sessions/terminate", {
      method: "POST",
      body: { ids, force },
    }),
  /** The live usage of a session's kernels (newest figures and the recent window). */
  sessionUsage: (ref: string) => request<SessionUsage>(`/api/sessions/${encodeURIComponent(ref)}/usage`),
  logs: (ref: string, kernel: string, tail?: number) =>
    requestText(`/api/sessions/${encodeURIComponent(ref)}/logs`, {
      query: { kernel, tail },
    }),
};
