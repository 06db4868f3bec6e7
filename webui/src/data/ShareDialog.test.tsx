// The Share button's busy spinner in a browser whose CSS transitions never end: before antd's
// motion library loads, the page claims transition support, and jsdom never fires a
// transitionend. This is what a busy machine did to the e2e test: an answer that came while
// antd was still sliding the spinner of an icon-less button in left an invisible spinner
// (role img, "loading") in the button for good, so the button read "loading Share".
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import ShareDialog from "./ShareDialog";
import { button, fakeServer, folder, json, withApp } from "./testing";

vi.hoisted(() => {
  const w = window as unknown as Record<string, unknown>;
  w.TransitionEvent ??= class extends Event {};
  w.AnimationEvent ??= class extends Event {};
});

let release: () => void;

beforeEach(() => {
  // The share request is answered only when the test says so: the spinner is on meanwhile.
  const answered = new Promise<void>((resolve) => (release = resolve));
  fakeServer((c) => (c.method === "GET" && c.path === "/api/folders/id-data/shares" ? json([]) : undefined));
  const fetchStub = globalThis.fetch;
  vi.stubGlobal("fetch", async (url: string, init?: RequestInit) => {
    if (init?.method === "POST") {
      await answered;
      return json({ detail: [{ loc: ["body", "email"], msg: "no active user with email nobody@example.com" }] }, 422);
    }
    return fetchStub(url, init);
  });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("ShareDialog's Share button", { timeout: 30_000 }, () => {
  it("shows a spinner while the share is sent and is plain 'Share' again once the answer is in", async () => {
    render(withApp(<ShareDialog folder={folder("data")} onClose={() => undefined} />));
    expect(await screen.findByText("Not shared with anyone yet")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Email"), { target: { value: "nobody@example.com" } });
    fireEvent.click(button("Share"));
    await waitFor(() => expect(button("Share").querySelector(".anticon-loading")).not.toBeNull());
    release();
    expect(await screen.findByText("no active user with email nobody@example.com")).toBeTruthy();
    await waitFor(() => expect(button("Share").querySelector(".anticon-loading")).toBeNull());
    expect(screen.getByRole("button", { name: "Share" })).toBe(button("Share"));
  });
});
