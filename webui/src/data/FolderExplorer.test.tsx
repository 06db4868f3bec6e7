import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import FolderExplorer from "./FolderExplorer";
import { button, fakeServer, folder, json, withApp, type Call } from "./testing";
import type { FileEntry } from "./types";

// tus-js-client stand-in: records each upload's options; the test finishes them.
const tus = vi.hoisted(() => ({ uploads: [] as { file: File; options: Record<string, any> }[] }));
vi.mock("tus-js-client", () => ({
  DetailedError: class extends Error {},
  Upload: class {
    constructor(
      public file: File,
      public options: Record<string, any>,
    ) {
      tus.uploads.push({ file, options });
    }
    findPreviousUploads = async () => [];
    resumeFromPreviousUpload = () => undefined;
    start = () => this.options.onProgress(Math.floor(this.file.size / 2), this.file.size);
    abort = async () => undefined;
  },
}));

const entry = (name: string, type: FileEntry["type"], dir = ""): FileEntry => ({
  name,
  path: dir ? `${dir}/${name}` : name,
  type,
  size: 2048,
  modified: "2024-02-03T04:05:06Z",
  mode: 0o644,
});

let tree: Record<string, FileEntry[]>;
let calls: Call[];
let answer: (c: Call) => Response | undefined;

beforeEach(() => {
  tus.uploads.length = 0;
  tree = { "": [entry("sub", "dir"), entry("a.txt", "file")], sub: [entry("b.bin", "file", "sub")], empty: [] };
  answer = () => undefined;
  calls = fakeServer((c) => {
    const special = answer(c);
    if (special) return special;
    if (c.method === "GET" && c.path === "/api/folders/id-data/files") {
      const path = c.query.path ?? "";
      const entries = tree[path];
      if (!entries) return json({ detail: `path: ${path} does not exist` }, 404);
      return json({ path, total: entries.length, offset: 0, limit: 50, entries });
    }
    if (c.method === "DELETE" && c.path === "/api/folders/id-data/files") return json(null, 204);
    if (c.method === "POST" && c.path === "/api/folders/id-data/mkdir") return json(entry("new", "dir"), 201);
    if (c.method === "POST" && c.path === "/api/folders/id-data/move") return json(entry("x", "file"));
    return undefined;
  });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const lists = () => calls.filter((c) => c.method === "GET" && c.path.endsWith("/files"));

function open(patch = {}) {
  render(withApp(<FolderExplorer folder={folder("data", patch)} open onClose={() => undefined} />));
}

describe("FolderExplorer", { timeout: 30_000 }, () => {
  it("lists a directory and enters subdirectories, with breadcrumbs back", async () => {
    open();
    expect(await screen.findByText("a.txt")).toBeTruthy();
    expect(lists()[0].query).toMatchObject({ sort: "name", order: "asc", offset: "0", limit: "50" });
    const download = screen.getByLabelText("Download a.txt").closest("a") as HTMLAnchorElement;
    expect(download.getAttribute("href")).toBe("/api/folders/id-data/download?path=a.txt");
    fireEvent.click(screen.getByText("sub", { selector: "button *" }));
    expect(await screen.findByText("b.bin")).toBeTruthy();
    expect(lists().at(-1)?.query.path).toBe("sub");
    expect(screen.getByLabelText("Download as zip").getAttribute("href")).toBe(
      "/api/folders/id-data/download?path=sub",
    );
    fireEvent.click(screen.getByLabelText("Folder root"));
    expect(await screen.findByText("a.txt")).toBeTruthy();
  });

  it("sorts on the server", async () => {
    open();
    await screen.findByText("a.txt");
    fireEvent.click(screen.getByText("Size"));
    await waitFor(() => expect(lists().at(-1)?.query).toMatchObject({ sort: "size", order: "asc" }));
    fireEvent.click(screen.getByText("Size"));
    await waitFor(() => expect(lists().at(-1)?.query).toMatchObject({ sort: "size", order: "desc" }));
  });

  it("says so when a folder is empty, and when a listing fails", async () => {
    tree[""] = [];
    open();
    expect(await screen.findByText("This folder is empty — upload files or create a folder")).toBeTruthy();
    cleanup();
    answer = (c) => (c.path.endsWith("/files") ? json({ detail: "path: no such directory" }, 404) : undefined);
    open();
    expect(await screen.findByText("Could not list the folder")).toBeTruthy();
    expect(screen.getByText("path: no such directory")).toBeTruthy();
  });

  it("hides the write actions of a read-only folder", async () => {
    open({ my_permission: "ro" });
    await screen.findByText("a.txt");
    expect(screen.getByText("read-only")).toBeTruthy();
    for (const text of ["Upload files", "Upload folder", "New folder"]) expect(screen.queryByText(text)).toBeNull();
    expect(screen.queryByLabelText("Delete a.txt")).toBeNull();
    expect(screen.queryByLabelText("Rename a.txt")).toBeNull();
    expect(screen.getByLabelText("Download a.txt")).toBeTruthy();
  });

  it("deletes a directory with everything inside after a warning", async () => {
    open();
    await screen.findByText("a.txt");
    fireEvent.click(screen.getByLabelText("Delete sub"));
    expect(await screen.findByText(/deletes everything inside it/)).toBeTruthy();
    fireEvent.click(button("Delete"));
    await waitFor(() =>
      expect(calls.find((c) => c.method === "DELETE")?.query).toEqual({ path: "sub", recursive: "true" }),
    );
    expect(await screen.findByText("Deleted sub")).toBeTruthy();
  });

  it("creates a folder in the directory shown, checking the name as typed", async () => {
    open();
    fireEvent.click(await screen.findByText("sub", { selector: "button *" }));
    await screen.findByText("b.bin");
    fireEvent.click(screen.getByText("New folder"));
    // (the table's "Name" header has that label, too)
    const input = await waitFor(() => screen.getAllByLabelText("Name").find((e) => e.tagName === "INPUT")!);
    fireEvent.change(input, { target: { value: "../x" } });
    expect(await screen.findByText("The path must not contain '.' or '..' parts")).toBeTruthy();
    fireEvent.change(input, { target: { value: "new" } });
    fireEvent.click(button("Create"));
    await waitFor(() =>
      expect(calls.find((c) => c.path.endsWith("/mkdir"))?.body).toEqual({ path: "sub/new", parents: true }),
    );
  });

  it("renames and shows a clash at the path", async () => {
    answer = (c) => (c.path.endsWith("/move") ? json({ detail: "dst: b.txt exists already" }, 409) : undefined);
    open();
    await screen.findByText("a.txt");
    fireEvent.click(screen.getByLabelText("Rename a.txt"));
    const input = await screen.findByLabelText("New path");
    expect((input as HTMLInputElement).value).toBe("a.txt");
    fireEvent.change(input, { target: { value: "b.txt" } });
    fireEvent.click(button("Move"));
    expect(await screen.findByText("b.txt exists already")).toBeTruthy();
    expect(calls.find((c) => c.path.endsWith("/move"))?.body).toEqual({ src: "a.txt", dst: "b.txt" });
  });

  it("uploads picked files and folders with tus into the directory shown", async () => {
    open();
    fireEvent.click(await screen.findByText("sub", { selector: "button *" }));
    await screen.findByText("b.bin");
    const listsBefore = lists().length;
    const a = new File(["hello"], "a.txt", { type: "text/plain" });
    const c = new File(["0123456789"], "c.bin");
    Object.defineProperty(c, "webkitRelativePath", { value: "pics/deep/c.bin" });
    fireEvent.change(screen.getByTestId("upload-files-input"), { target: { files: [a] } });
    fireEvent.change(screen.getByTestId("upload-folder-input"), { target: { files: [c] } });
    await waitFor(() => expect(tus.uploads).toHaveLength(2));

    const [first, second] = tus.uploads;
    expect(first.options).toMatchObject({
      endpoint: "http://localhost:3000/api/uploads",
      chunkSize: 32 * 1024 * 1024,
      removeFingerprintOnSuccess: true,
      metadata: { folder: "id-data", path: "sub/a.txt", filename: "a.txt", filetype: "text/plain" },
    });
    expect(first.options.retryDelays.length).toBeGreaterThan(3);
    expect(second.options.metadata).toMatchObject({ path: "sub/pics/deep/c.bin", filetype: "application/octet-stream" });
    expect(await first.options.fingerprint()).not.toBe(await second.options.fingerprint());

    const items = screen.getAllByTestId("upload-item");
    expect(within(items[0]).getByText("sub/a.txt")).toBeTruthy();
    expect(within(items[1]).getByText("50%")).toBeTruthy();
    expect(screen.getByTestId("upload-summary").textContent).toBe("Uploading 0 of 2 files · 7 B of 15 B");

    act(() => {
      first.options.onSuccess({});
      second.options.onError(new Error("tus: failed"));
    });
    expect(screen.getByTestId("upload-summary").textContent).toBe("Uploaded 1 of 2 files · 1 failed");
    expect(screen.getByText("connection lost (Retry resumes the upload)")).toBeTruthy();
    await waitFor(() => expect(lists().length).toBeGreaterThan(listsBefore)); // the new file shows
    fireEvent.click(screen.getByLabelText("Retry sub/pics/deep/c.bin"));
    await waitFor(() => expect(tus.uploads).toHaveLength(3));
  });

  it("lists only the shown folder's uploads, and forgets finished ones when closed", async () => {
    const onClose = vi.fn();
    const { rerender } = render(withApp(<FolderExplorer folder={folder("data")} open onClose={onClose} />));
    await screen.findByText("a.txt");
    fireEvent.change(screen.getByTestId("upload-files-input"), { target: { files: [new File(["x"], "x.txt")] } });
    await waitFor(() => expect(tus.uploads).toHaveLength(1));
    act(() => tus.uploads[0].options.onSuccess({}));
    expect(screen.getAllByTestId("upload-item")).toHaveLength(1);
    rerender(withApp(<FolderExplorer folder={folder("other")} open onClose={onClose} />));
    expect(screen.queryAllByTestId("upload-item")).toHaveLength(0);
    rerender(withApp(<FolderExplorer folder={folder("data")} open onClose={onClose} />));
    expect(screen.getAllByTestId("upload-item")).toHaveLength(1);
    fireEvent.click(document.querySelector(".ant-modal-close") as HTMLElement);
    expect(onClose).toHaveBeenCalled();
    expect(screen.queryAllByTestId("upload-item")).toHaveLength(0);
  });
});
