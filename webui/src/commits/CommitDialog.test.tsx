import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { button, fakeServer, json, withApp, type Call } from "../data/testing";
import CommitDialog from "./CommitDialog";

const target = { id: "s1", name: "my-session" };
const task = {
  id: "c1",
  session_id: "s1",
  owner_id: "u1",
  name: "my-env",
  image: "berth/customized:u1-my-env",
  status: "running",
  phase: "committing",
  progress: 20,
  size: null,
  reason: "",
  created_at: "2026-12-07T00:00:00Z",
  finished_at: null,
};

let calls: Call[];
let answer: (c: Call) => Response | undefined;
let polled: number;

beforeEach(() => {
  polled = 0;
  answer = () => undefined;
  calls = fakeServer((c) => {
    const special = answer(c);
    if (special) return special;
    if (c.method === "GET" && c.path === "/api/sessions/s1/commits") return json([]);
    if (c.method === "POST" && c.path === "/api/sessions/s1/commit") return json(task, 202);
    if (c.method === "GET" && c.path === "/api/commits/c1") {
      polled += 1;
      return json({ ...task, status: "done", phase: "done", progress: 100, size: 2 ** 30 });
    }
    return undefined;
  });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const input = () => document.getElementById("commit-name") as HTMLInputElement;
const type = (value: string) => fireEvent.change(input(), { target: { value } });

describe("CommitDialog", { timeout: 30_000 }, () => {
  it("checks the name as typed, then follows the task to its end", async () => {
    render(withApp(<CommitDialog target={target} onClose={() => undefined} />));
    type("ab");
    expect(await screen.findByText(/Name must be 4 to 32 characters/)).toBeTruthy();
    expect(button("Convert").disabled).toBe(true);
    type("my env");
    expect(await screen.findByText("Name may contain only letters, digits, '-' and '_'")).toBeTruthy();
    type("my-env");
    await waitFor(() => expect(button("Convert").disabled).toBe(false));
    fireEvent.click(button("Convert"));
    expect(await screen.findByText("Saving the container · 20%")).toBeTruthy();
    expect(await screen.findByText("Done · 100% · 1 GiB", undefined, { timeout: 5000 })).toBeTruthy();
    expect(screen.getByText("berth/customized:u1-my-env")).toBeTruthy();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "my-env" });
    const after = polled;
    await new Promise((r) => setTimeout(r, 1000));
    expect(polled).toBe(after); // no polling once done
  });

  it("shows the server's 422 at the field and a 409 under the form", async () => {
    answer = (c) =>
      c.method === "POST"
        ? (c.body as { name: string }).name === "taken"
          ? json({ detail: "you already have a customized image 'taken'; remove it or choose another name" }, 409)
          : json({ detail: [{ loc: ["body", "name"], msg: "may contain only letters, digits, '-' and '_'" }] }, 422)
        : undefined;
    render(withApp(<CommitDialog target={target} onClose={() => undefined} />));
    type("fine");
    fireEvent.click(button("Convert"));
    expect(await screen.findByText("Name may contain only letters, digits, '-' and '_'")).toBeTruthy();
    type("taken");
    fireEvent.click(button("Convert"));
    expect(await screen.findByText(/already have a customized image 'taken'/)).toBeTruthy();
  });

  it("follows a commit of the session that is already running, and shows a failure's reason", async () => {
    answer = (c) => {
      if (c.path === "/api/sessions/s1/commits") return json([task]);
      if (c.path === "/api/commits/c1") {
        return json({ ...task, status: "failed", phase: "failed", progress: 100, reason: "the engine said no" });
      }
      return undefined;
    };
    render(withApp(<CommitDialog target={target} onClose={() => undefined} />));
    expect(await screen.findByText("Saving the container · 20%")).toBeTruthy();
    expect(await screen.findByText("the engine said no", undefined, { timeout: 5000 })).toBeTruthy();
    expect(screen.getByText("The conversion failed")).toBeTruthy();
  });
});
