import { describe, expect, it, vi } from "vitest";
import {
  aggregateProgress,
  destinationPath,
  itemPercent,
  shouldRetry,
  uploadErrorMessage,
  uploadFingerprint,
  uploadMetadata,
  UploadQueue,
  type StartCallbacks,
  type UploadItem,
} from "./upload";

const item = (over: Partial<UploadItem>): UploadItem => ({
  id: "u",
  folderId: "f",
  path: "x",
  size: 100,
  sent: 0,
  status: "uploading",
  ...over,
});

function file(name: string, size: number, relative = ""): File {
  const f = new File([new Uint8Array(size)], name, { type: "text/plain" });
  if (relative) Object.defineProperty(f, "webkitRelativePath", { value: relative });
  return f;
}

describe("destinationPath", () => {
  it("puts picked files into the directory shown", () => {
    expect(destinationPath("", { name: "a.txt" })).toBe("a.txt");
    expect(destinationPath("data/raw", { name: "a.txt", webkitRelativePath: "" })).toBe("data/raw/a.txt");
  });

  it("keeps the tree of a picked folder", () => {
    expect(destinationPath("", { name: "b.png", webkitRelativePath: "pics/x/b.png" })).toBe("pics/x/b.png");
    expect(destinationPath("in", { name: "b.png", webkitRelativePath: "pics/b.png" })).toBe("in/pics/b.png");
  });
});

describe("aggregateProgress", () => {
  it("sums bytes over the files and counts their states", () => {
    const p = aggregateProgress([
      item({ id: "1", size: 100, sent: 50 }),
      item({ id: "2", size: 300, sent: 300, status: "done" }),
      item({ id: "3", size: 100, sent: 0, status: "queued" }),
      item({ id: "4", size: 1000, sent: 10, status: "cancelled" }),
      item({ id: "5", size: 0, sent: 0, status: "error", error: "no" }),
    ]);
    expect(p).toEqual({ sent: 350, total: 500, percent: 70, done: 1, failed: 1, active: 2, count: 4 });
  });

  it("is 100 only when every file is done, empty files included", () => {
    expect(aggregateProgress([item({ size: 100, sent: 100 })]).percent).toBe(99);
    expect(aggregateProgress([item({ size: 0, status: "done" })]).percent).toBe(100);
    expect(aggregateProgress([]).percent).toBe(0);
    expect(itemPercent(item({ size: 0, status: "done" }))).toBe(100);
    expect(itemPercent(item({ size: 200, sent: 50 }))).toBe(25);
  });
});

describe("tus details", () => {
  it("sends the metadata the manager expects", () => {
    expect(uploadMetadata("f1", "a/b.bin", { name: "b.bin", type: "" })).toEqual({
      folder: "f1",
      path: "a/b.bin",
      filename: "b.bin",
      filetype: "application/octet-stream",
    });
  });

  it("remembers unfinished uploads per destination", () => {
    const f = { name: "a", size: 3, lastModified: 7 };
    expect(uploadFingerprint("f1", "a", f)).not.toBe(uploadFingerprint("f2", "a", f));
    expect(uploadFingerprint("f1", "a", f)).not.toBe(uploadFingerprint("f1", "b/a", f));
    expect(uploadFingerprint("f1", "a", f)).toBe(uploadFingerprint("f1", "a", { ...f }));
  });

  it("retries lost connections and server trouble, not refusals", () => {
    expect(shouldRetry(null)).toBe(true);
    expect(shouldRetry(0)).toBe(true);
    expect(shouldRetry(502)).toBe(true);
    expect(shouldRetry(423)).toBe(true);
    for (const status of [400, 401, 403, 404, 409, 413, 422]) expect(shouldRetry(status)).toBe(false);
  });

  it("words errors from the manager's answer", () => {
    expect(uploadErrorMessage(409, '{"detail":"path: a directory is in the way"}', "x")).toBe(
      "path: a directory is in the way",
    );
    expect(
      uploadErrorMessage(422, '{"detail":[{"loc":["header","path"],"msg":"must be relative"}]}', "x"),
    ).toBe("header.path: must be relative");
    expect(uploadErrorMessage(null, null, "x")).toMatch(/connection lost/);
    expect(uploadErrorMessage(500, "<html>oops</html>", "tus failed")).toBe("tus failed");
  });
});

describe("UploadQueue", () => {
  function fakeStarter() {
    const started: { path: string; cb: StartCallbacks; abort: ReturnType<typeof vi.fn> }[] = [];
    const start = vi.fn((job: { path: string }, cb: StartCallbacks) => {
      const abort = vi.fn();
      started.push({ path: job.path, cb, abort });
      return { abort };
    });
    return { started, start };
  }

  it("sends at most `concurrency` files at once and reports each finished one", () => {
    const { started, start } = fakeStarter();
    const uploaded: string[] = [];
    const q = new UploadQueue(start, 2, (i) => uploaded.push(i.path));
    q.add("f", "dir", [file("a", 10), file("b", 20), file("c", 30)]);
    expect(started.map((s) => s.path)).toEqual(["dir/a", "dir/b"]);
    expect(q.getSnapshot().map((i) => i.status)).toEqual(["uploading", "uploading", "queued"]);

    started[0].cb.onProgress(5);
    expect(q.getSnapshot()[0].sent).toBe(5);
    started[0].cb.onSuccess();
    expect(uploaded).toEqual(["dir/a"]);
    expect(started.map((s) => s.path)).toEqual(["dir/a", "dir/b", "dir/c"]);

    started[1].cb.onError("no space left");
    expect(q.getSnapshot()[1]).toMatchObject({ status: "error", error: "no space left" });
    started[2].cb.onSuccess();
    expect(aggregateProgress(q.getSnapshot())).toMatchObject({ done: 2, failed: 1, active: 0 });
  });

  it("cancels, retries and clears", () => {
    const { started, start } = fakeStarter();
    const q = new UploadQueue(start, 1);
    const listener = vi.fn();
    q.subscribe(listener);
    q.add("f", "", [file("a", 10), file("b", 10)]);
    expect(listener).toHaveBeenCalled();
    q.cancel(q.getSnapshot()[0].id);
    expect(started[0].abort).toHaveBeenCalled();
    expect(q.getSnapshot()[0].status).toBe("cancelled");
    expect(started.map((s) => s.path)).toEqual(["a", "b"]); // the next one starts
    started[0].cb.onSuccess(); // late news of a cancelled upload changes nothing
    expect(q.getSnapshot()[0].status).toBe("cancelled");

    q.retry(q.getSnapshot()[0].id);
    expect(q.getSnapshot()[0].status).toBe("queued"); // waits for its turn
    started[1].cb.onSuccess();
    expect(started.map((s) => s.path)).toEqual(["a", "b", "a"]);
    started[2].cb.onSuccess();
    q.clearFinished();
    expect(q.getSnapshot()).toEqual([]);
  });

  it("fails files whose destination breaks the path rules without sending them", () => {
    const { started, start } = fakeStarter();
    const q = new UploadQueue(start);
    q.add("f", "", [file("x", 1, "dir/../x")]);
    expect(started).toEqual([]);
    expect(q.getSnapshot()[0].status).toBe("error");
    expect(q.getSnapshot()[0].error).toMatch(/'\.\.'/);
  });

  it("stops everything on cancelAll", () => {
    const { started, start } = fakeStarter();
    const q = new UploadQueue(start, 1);
    q.add("f", "", [file("a", 1), file("b", 1)]);
    q.cancelAll();
    expect(started).toHaveLength(1);
    expect(q.getSnapshot().map((i) => i.status)).toEqual(["cancelled", "cancelled"]);
  });
});
