// Test helpers: folders, a fetch stand-in answering by "METHOD /path", the antd App wrapper.
import { App as AntApp } from "antd";
import type { ReactNode } from "react";
import { configure, waitFor } from "@testing-library/react";
import { vi } from "vitest";
import type { Folder } from "./types";

// antd forms validate asynchronously; on a busy machine that takes longer than the default 1 s.
configure({ asyncUtilTimeout: 5000 });

export const folder = (name: string, patch: Partial<Folder> = {}): Folder => ({
  id: `id-${name}`,
  name,
  host: "local",
  status: "ready",
  trashed_at: null,
  created_at: "2024-01-01T00:00:00Z",
  owner_kind: "user",
  owner_id: "u1",
  owner_name: "me@example.com",
  usage_mode: "general",
  permission: "rw",
  my_permission: "rw",
  is_owner: true,
  shared_with_me: false,
  auto_mount: name.startsWith("."),
  usage_bytes: null,
  usage_files: null,
  usage_measured_at: null,
  ...patch,
});

export interface Call {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

export type Handler = (call: Call) => Response | undefined;

export function json(body: unknown, status = 200): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** Stubs fetch: `handler` answers (undefined -> 404); every call is recorded in the result. */
export function fakeServer(handler: Handler): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const u = new URL(url, "http://berth.test");
      const call: Call = {
        method: init?.method ?? "GET",
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        body: init?.body ? JSON.parse(String(init.body)) : undefined,
      };
      calls.push(call);
      return handler(call) ?? json({ detail: "not found" }, 404);
    }),
  );
  return calls;
}

export function withApp(node: ReactNode) {
  return <AntApp>{node}</AntApp>;
}

/** The buttons showing exactly `text` (cheaper than getByRole on antd's big trees). */
export function buttons(text: string): HTMLButtonElement[] {
  return Array.from(document.querySelectorAll("button")).filter((b) => b.textContent?.trim() === text);
}

/** The last (top-most: a confirmation's) button showing `text`; throws when there is none. */
export function button(text: string): HTMLButtonElement {
  const found = buttons(text);
  if (found.length === 0) throw new Error(`no button "${text}"`);
  return found[found.length - 1];
}

/** Waits for a button showing `text`. */
export function findButton(text: string): Promise<HTMLButtonElement> {
  return waitFor(() => button(text));
}
