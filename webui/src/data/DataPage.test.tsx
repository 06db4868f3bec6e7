import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import DataPage from "./DataPage";
import { button, fakeServer, findButton, folder, json, withApp, type Call } from "./testing";
import type { Folder } from "./types";

const auth = vi.hoisted(() => ({
  user: { id: "u1", email: "me@example.com", full_name: "", role: "user", is_active: true, created_at: "" },
}));
vi.mock("../auth", () => ({ useUser: () => auth.user }));
// The explorer has its own tests.
vi.mock("./FolderExplorer", () => ({
  default: ({ folder: f, open }: { folder: Folder; open: boolean }) =>
    open ? <div data-testid="explorer">exploring {f.name}</div> : null,
}));

let live: Folder[];
let trashed: Folder[];
let calls: Call[];
let answer: (c: Call) => Response | undefined;

beforeEach(() => {
  auth.user.role = "user";
  live = [
    folder("data", { usage_bytes: 1536, usage_files: 3, usage_measured_at: "2024-01-02T00:00:00Z" }),
    folder("models", { is_owner: false, shared_with_me: true, owner_id: "u2", owner_name: "bob@example.com", my_permission: "ro" }),
    folder(".cfg"),
  ];
  trashed = [folder("old", { status: "trashed", trashed_at: "2024-03-01T00:00:00Z" })];
  answer = () => undefined;
  calls = fakeServer((c) => {
    const special = answer(c);
    if (special) return special;
    if (c.method === "GET" && c.path === "/api/folders") return json(c.query.trashed === "true" ? trashed : live);
    if (c.method === "DELETE" && c.path === "/api/folders/id-data") {
      live = live.filter((f) => f.name !== "data");
      return json(folder("data", { status: "trashed" }));
    }
    if (c.method === "DELETE" && c.path === "/api/folders/id-models/shares/u1") return json(null, 204);
    if (c.method === "POST" && c.path === "/api/folders/id-old/purge") return json(null, 204);
    if (c.method === "POST" && c.path === "/api/folders/id-old/restore") {
      const name = (c.body as { name?: string }).name;
      if (!name) return json({ detail: "name: a folder named old exists already" }, 409);
      return json(folder(name));
    }
    return undefined;
  });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function renderPage(url = "/data") {
  render(withApp(<MemoryRouter initialEntries={[url]}><DataPage /></MemoryRouter>));
}

const rowOf = (name: string) => screen.getByText(name, { selector: "button *" }).closest("tr") as HTMLElement;

async function pick(name: string, action: string) {
  fireEvent.click(within(rowOf(name)).getByLabelText(`Actions for ${name}`));
  fireEvent.click(await screen.findByText(action, { selector: ".ant-dropdown-menu-title-content" }));
}

describe("DataPage", { timeout: 30_000 }, () => {
  it("lists the folders with owner, permission, size and tags", async () => {
    renderPage();
    await screen.findByText("data", { selector: "button *" });
    expect(calls[0]).toMatchObject({ method: "GET", path: "/api/folders", query: { trashed: "false" } });
    const data = within(rowOf("data"));
    expect(data.getByText("1.5 KiB")).toBeTruthy();
    expect(data.getByText("you")).toBeTruthy();
    expect(data.getByText("Read-write")).toBeTruthy();
    const models = within(rowOf("models"));
    expect(models.getByText("shared with you")).toBeTruthy();
    expect(models.getByText("bob@example.com")).toBeTruthy();
    expect(models.getByText("Read-only")).toBeTruthy();
    expect(models.getByText("—")).toBeTruthy(); // not measured yet
    expect(within(rowOf(".cfg")).getByText("auto-mounted at /home/work/.cfg")).toBeTruthy();
  });

  it("opens the explorer from the name", async () => {
    renderPage();
    fireEvent.click(await screen.findByText("models", { selector: "button *" }));
    expect(screen.getByTestId("explorer").textContent).toBe("exploring models");
  });

  it("shows an empty state with a way to create the first folder", async () => {
    live = [];
    renderPage();
    expect(await screen.findByText("No folders yet. Create one to keep data across sessions.")).toBeTruthy();
  });

  it("shows why the list failed", async () => {
    answer = (c) => (c.path === "/api/folders" ? json({ detail: "database is locked" }, 503) : undefined);
    renderPage();
    expect(await screen.findByText("Could not load the folders")).toBeTruthy();
    expect(screen.getByText("database is locked")).toBeTruthy();
  });

  it("moves a folder to the trash and says where to restore it", async () => {
    renderPage();
    await screen.findByText("data", { selector: "button *" });
    await pick("data", "Delete");
    fireEvent.click(await findButton("Move to trash"));
    expect(await screen.findByText('"data" moved to trash; restore it from the Trash tab')).toBeTruthy();
    expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/folders/id-data")).toBe(true);
    await waitFor(() => expect(screen.queryByText("data", { selector: "button *" })).toBeNull());
  });

  it("lets an invitee leave a shared folder, and offers no owner actions", async () => {
    renderPage();
    await screen.findByText("models", { selector: "button *" });
    fireEvent.click(within(rowOf("models")).getByLabelText("Actions for models"));
    await screen.findByText("Leave", { selector: ".ant-dropdown-menu-title-content" });
    expect(screen.queryByText("Share", { selector: ".ant-dropdown-menu-title-content" })).toBeNull();
    fireEvent.click(screen.getByText("Leave", { selector: ".ant-dropdown-menu-title-content" }));
    fireEvent.click(await findButton("Leave"));
    expect(await screen.findByText('You left "models"')).toBeTruthy();
    expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/folders/id-models/shares/u1")).toBe(true);
  });

  it("restores from the trash under a new name when the old one is taken", async () => {
    renderPage("/data?tab=trash");
    expect(await screen.findByText("old")).toBeTruthy();
    fireEvent.click(screen.getByLabelText("Restore old"));
    expect(await screen.findByText("a folder named old exists already")).toBeTruthy();
    const input = screen.getByLabelText("New name") as HTMLInputElement;
    expect(input.value).toBe("old-restored");
    fireEvent.change(input, { target: { value: "bad name" } });
    expect(await screen.findByText(/The name may use only/)).toBeTruthy();
    fireEvent.change(input, { target: { value: "old2" } });
    fireEvent.click(button("Restore"));
    expect(await screen.findByText('Restored as "old2"')).toBeTruthy();
    expect(calls.filter((c) => c.path.endsWith("/restore")).map((c) => c.body)).toEqual([{}, { name: "old2" }]);
  });

  it("purges from the trash after a confirmation; an empty trash says so", async () => {
    renderPage("/data?tab=trash");
    await screen.findByText("old");
    fireEvent.click(screen.getByLabelText("Delete old for good"));
    expect(await screen.findByText("Every file in it is deleted. This cannot be undone.")).toBeTruthy();
    trashed = [];
    fireEvent.click(button("Delete for good"));
    expect(await screen.findByText('"old" deleted for good')).toBeTruthy();
    expect(await screen.findByText("The trash is empty")).toBeTruthy();
  });
});
