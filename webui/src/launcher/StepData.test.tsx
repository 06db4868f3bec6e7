import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { foldersApi } from "../data/foldersApi";
import { folder } from "../data/testing";
import type { Folder } from "../data/types";
import { DEFAULT_FORM, validate, type LaunchForm } from "./form";
import StepData from "./StepData";
import { useFolders } from "./useFolders";

// The data helpers' dialogs are theirs to test: here a stand-in creates through the API.
vi.mock("../data/CreateFolderDialog", () => ({
  default: ({ open, onCreated }: { open: boolean; onCreated: (f: Folder) => void }) =>
    open ? (
      <button type="button" onClick={() => void foldersApi.create({ name: "fresh" }).then(onCreated)}>
        stub create
      </button>
    ) : null,
}));
vi.mock("../data/FolderExplorer", () => ({
  default: ({ folder, open }: { folder: Folder; open: boolean }) =>
    open ? <div data-testid="explorer">exploring {folder.name}</div> : null,
}));


let stored: Folder[] = [];
const calls: { method: string; url: string; body: unknown }[] = [];

beforeEach(() => {
  calls.length = 0;
  stored = [
    folder("data"),
    folder("models", { is_owner: false, shared_with_me: true, owner_name: "bob@example.com", my_permission: "ro" }),
    folder(".cfg"),
  ];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? "GET";
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
      calls.push({ method, url, body });
      if (method === "GET" && url.startsWith("/api/folders")) return Response.json(stored);
      if (method === "POST" && url === "/api/folders") {
        const created = folder((body as { name: string }).name);
        stored = [...stored, created];
        return Response.json(created, { status: 201 });
      }
      return Response.json({ detail: "not found" }, { status: 404 });
    }),
  );
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

let latest: LaunchForm = DEFAULT_FORM;
function Harness() {
  const [form, setFormState] = useState<LaunchForm>({ ...DEFAULT_FORM, image: "img" });
  latest = form;
  const folderList = useFolders();
  const { errors, warnings } = validate(form, { images: [], agents: [], isAdmin: false, folders: folderList.folders });
  return (
    <StepData
      form={form}
      setForm={(patch) => setFormState((prev) => ({ ...prev, ...patch }))}
      errors={errors}
      warnings={warnings}
      folderList={folderList}
    />
  );
}

const rowOf = (name: string) => screen.getByText(name, { selector: "a" }).closest("tr") as HTMLElement;

describe("StepData", () => {
  it("lists the folders, with dot-folders auto-mounted and not selectable", async () => {
    render(<Harness />);
    await screen.findByText("data", { selector: "a" });
    expect(calls[0]).toMatchObject({ method: "GET", url: "/api/folders?trashed=false" });
    const cfg = within(rowOf(".cfg"));
    expect(cfg.getByText("/home/work/.cfg")).toBeTruthy();
    expect((cfg.getByRole("checkbox") as HTMLInputElement).disabled).toBe(true);
    expect(within(rowOf("models")).getByText("shared by bob@example.com")).toBeTruthy();
    expect(within(rowOf("models")).getByText("Read-only")).toBeTruthy();
  });

  it("filters the table by the search box", async () => {
    render(<Harness />);
    await screen.findByText("data", { selector: "a" });
    fireEvent.change(screen.getByLabelText("Search folders"), { target: { value: "MOD" } });
    expect(screen.getByText("models", { selector: "a" })).toBeTruthy();
    expect(screen.queryByText("data", { selector: "a" })).toBeNull();
    fireEvent.change(screen.getByLabelText("Search folders"), { target: { value: "zzz" } });
    expect(screen.getByText('No folder matches "zzz"')).toBeTruthy();
  });

  it("selects a folder created with +", async () => {
    render(<Harness />);
    await screen.findByText("data", { selector: "a" });
    fireEvent.click(screen.getByLabelText("Create folder"));
    fireEvent.click(screen.getByText("stub create"));
    await waitFor(() => expect(latest.mounts).toEqual([{ folder: "id-fresh", path: "", ro: false }]));
    expect(calls.some((c) => c.method === "POST" && (c.body as { name: string }).name === "fresh")).toBe(true);
    const row = await waitFor(() => rowOf("fresh"));
    expect((within(row).getByRole("checkbox") as HTMLInputElement).checked).toBe(true);
    expect(screen.getByLabelText("Mount path of fresh").getAttribute("placeholder")).toBe("/home/work/fresh");
  });

  it("shows an overlapping mount path on its row, live", async () => {
    render(<Harness />);
    await screen.findByText("data", { selector: "a" });
    fireEvent.click(within(rowOf("data")).getByRole("checkbox"));
    fireEvent.click(within(rowOf("models")).getByRole("checkbox"));
    expect(latest.mounts.map((m) => m.folder)).toEqual(["id-data", "id-models"]);
    // a folder read-only for me is mounted read-only, and that cannot be switched off
    const roSwitch = screen.getByLabelText("Read-only models");
    expect(roSwitch.getAttribute("aria-checked")).toBe("true");
    expect((roSwitch as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText("mounted at /home/work/models")).toBeTruthy();

    fireEvent.change(screen.getByLabelText("Mount path of models"), { target: { value: "data/sub" } });
    const modelsRow = screen.getAllByTestId("mount-row")[1];
    expect(within(modelsRow).getByText("/home/work/data/sub overlaps the mount of 'data' at /home/work/data")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Mount path of models"), { target: { value: "/usr/m" } });
    expect(within(modelsRow).getByText("cannot mount at or under the system directory /usr")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Mount path of models"), { target: { value: "/mnt/m" } });
    expect(within(modelsRow).getByText("mounted at /mnt/m")).toBeTruthy();
    expect(latest.mounts[1]).toEqual({ folder: "id-models", path: "/mnt/m", ro: true });
  });

  it("opens the explorer on a name, and says so when there is no folder", async () => {
    render(<Harness />);
    fireEvent.click(await screen.findByText("data", { selector: "a" }));
    expect(screen.getByTestId("explorer").textContent).toBe("exploring data");
    cleanup();
    stored = [];
    await act(async () => {
      render(<Harness />);
    });
    expect(await screen.findByText("No folders yet — create one with +")).toBeTruthy();
  });
});
