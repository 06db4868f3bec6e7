import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import CreateFolderDialog from "./CreateFolderDialog";
import ShareDialog from "./ShareDialog";
import { button, buttons, fakeServer, folder, json, withApp, type Call } from "./testing";
import type { Share } from "./types";

const auth = vi.hoisted(() => ({
  user: { id: "u1", email: "me@example.com", full_name: "", role: "user", is_active: true, created_at: "" },
}));
vi.mock("../auth", () => ({ useUser: () => auth.user }));

let calls: Call[];
let answer: (c: Call) => Response | undefined;
let shares: Share[];

beforeEach(() => {
  auth.user.role = "user";
  answer = () => undefined;
  shares = [{ folder_id: "id-data", user_id: "u2", email: "bob@example.com", permission: "ro", created_at: "2024-01-01T00:00:00Z" }];
  calls = fakeServer((c) => {
    const special = answer(c);
    if (special) return special;
    if (c.method === "GET" && c.path === "/api/storage/hosts") {
      return json([
        { name: "local", path: "/srv", capabilities: [], total_bytes: 2 ** 40, used_bytes: 0, free_bytes: 2 ** 39, folders: 1 },
        { name: "nas", path: "/nas", capabilities: [], total_bytes: 2 ** 41, used_bytes: 0, free_bytes: 2 ** 40, folders: 0 },
      ]);
    }
    if (c.method === "POST" && c.path === "/api/folders") return json(folder((c.body as { name: string }).name), 201);
    if (c.method === "GET" && c.path === "/api/folders/id-data/shares") return json(shares);
    if (c.method === "POST" && c.path === "/api/folders/id-data/shares") {
      const { email, permission } = c.body as Share;
      if (email === "nobody@example.com") {
        return json({ detail: [{ loc: ["body", "email"], msg: `no active user with email ${email}` }] }, 422);
      }
      const share = { ...shares[0], user_id: "u3", email, permission };
      shares = [...shares.filter((s) => s.email !== email), share];
      return json(share);
    }
    if (c.method === "DELETE" && c.path === "/api/folders/id-data/shares/u2") return json(null, 204);
    return undefined;
  });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const nameInput = () => screen.getAllByLabelText("Name").find((e) => e.tagName === "INPUT") as HTMLInputElement;

describe("CreateFolderDialog", { timeout: 30_000 }, () => {
  it("checks the name as typed and explains dot-folders", async () => {
    render(withApp(<CreateFolderDialog open onCreated={() => undefined} onCancel={() => undefined} />));
    fireEvent.change(nameInput(), { target: { value: "my data" } });
    expect(await screen.findByText(/The name may use only ASCII letters/)).toBeTruthy();
    fireEvent.change(nameInput(), { target: { value: ".." } });
    expect(await screen.findByText('The name ".." is not a folder name')).toBeTruthy();
    fireEvent.change(nameInput(), { target: { value: ".cache" } });
    expect(await screen.findByText(/mounted into every session of yours at \/home\/work\/\.cache/)).toBeTruthy();
    expect(calls.some((c) => c.path === "/api/storage/hosts")).toBe(false); // not a superadmin
  });

  it("creates with the chosen usage and permission", async () => {
    const created = vi.fn();
    render(withApp(<CreateFolderDialog open onCreated={created} onCancel={() => undefined} />));
    fireEvent.change(nameInput(), { target: { value: "weights" } });
    fireEvent.click(screen.getByLabelText(/^Model/));
    fireEvent.click(screen.getByText("Read-only"));
    fireEvent.click(button("Create"));
    await waitFor(() => expect(created).toHaveBeenCalled());
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "weights", usage_mode: "model", permission: "ro" });
  });

  it("puts the server's refusal on the name field", async () => {
    answer = (c) =>
      c.method === "POST"
        ? json({ detail: [{ loc: ["body", "name"], msg: "you have 100 folders already (the limit)" }] }, 422)
        : undefined;
    render(withApp(<CreateFolderDialog open onCreated={() => undefined} onCancel={() => undefined} />));
    fireEvent.change(nameInput(), { target: { value: "one-more" } });
    fireEvent.click(button("Create"));
    expect(await screen.findByText("you have 100 folders already (the limit)")).toBeTruthy();
    expect(screen.queryByText("Could not create the folder")).toBeNull();
  });

  it("lets a superadmin pick the storage host", async () => {
    auth.user.role = "superadmin";
    render(withApp(<CreateFolderDialog open onCreated={() => undefined} onCancel={() => undefined} />));
    await waitFor(() => expect(calls.some((c) => c.path === "/api/storage/hosts")).toBe(true));
    fireEvent.mouseDown(screen.getAllByLabelText("Storage host").find((e) => e.tagName === "INPUT")!);
    fireEvent.click(await screen.findByText("nas — 1 TiB free of 2 TiB"));
    fireEvent.change(nameInput(), { target: { value: "big" } });
    fireEvent.click(button("Create"));
    await waitFor(() => expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({ name: "big", host: "nas" }));
  });
});

describe("ShareDialog", { timeout: 30_000 }, () => {
  it("lists, adds and removes shares; an unknown email shows at the field", async () => {
    render(withApp(<ShareDialog folder={folder("data")} onClose={() => undefined} />));
    expect(await screen.findByText("bob@example.com")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Email"), { target: { value: "nobody@example.com" } });
    fireEvent.click(button("Share"));
    expect(await screen.findByText("no active user with email nobody@example.com")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Email"), { target: { value: "carol@example.com" } });
    fireEvent.click(button("Share"));
    expect(await screen.findByText("carol@example.com")).toBeTruthy();
    expect(calls.filter((c) => c.method === "POST").at(-1)?.body).toEqual({ email: "carol@example.com", permission: "ro" });
    fireEvent.click(buttons("Remove")[0]);
    await screen.findByText("Stop sharing with bob@example.com?");
    fireEvent.click(button("Remove")); // the confirmation's
    await waitFor(() => expect(calls.some((c) => c.method === "DELETE" && c.path.endsWith("/shares/u2"))).toBe(true));
  });
});
