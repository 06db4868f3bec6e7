// Uploads into a folder with the tus protocol (resumable: a dropped connection picks up where it
// stopped). The pure parts (destination paths, progress sums, error texts) are separate from
// the queue (at most a few files at once) and from tus-js-client itself (tusStarter).
import { DetailedError, Upload } from "tus-js-client";
import { errorFrom } from "../api";
import { joinPath, relativePathError } from "./rules";

/** Bytes per upload request. The manager limits ordinary request bodies to 1 MiB; the tus
 * route is exempt and streams each chunk to disk. Each request costs the server a fixed
 * amount (authentication, locks, a synced offset), so large chunks upload faster
 * (benchmarks/bench_storage.py: 8 MiB chunks took about twice as long as 64 MiB ones); a
 * dropped connection resends at most one chunk. */
export const CHUNK_SIZE = 32 * 1024 * 1024;
/** Waits before each retry of a failed request (then the upload fails; "Retry" resumes it). */
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];
/** Files sent at the same time. */
export const CONCURRENCY = 3;

export type UploadStatus = "queued" | "uploading" | "done" | "error" | "cancelled";

export interface UploadItem {
  id: string;
  folderId: string;
  /** Destination relative to the folder root, with the file name. */
  path: string;
  size: number;
  sent: number;
  status: UploadStatus;
  error?: string;
}

/** What a picked file offers: a folder picker (webkitdirectory) fills webkitRelativePath with
 * "picked-dir/sub/file"; a file picker leaves it empty. */
export interface PickedFile {
  name: string;
  webkitRelativePath?: string;
}

/** Where a picked file goes: under `dir` (the directory shown), keeping the tree of a picked
 * folder. ("data", a.txt) -> "data/a.txt"; ("", {webkitRelativePath "pics/x/b.png"}) -> "pics/x/b.png". */
export function destinationPath(dir: string, file: PickedFile): string {
  return joinPath(dir, file.webkitRelativePath || file.name);
}

export interface Progress {
  sent: number;
  total: number;
  /** 0..100, whole numbers; 100 only when everything is done. */
  percent: number;
  done: number;
  failed: number;
  /** Queued or uploading. */
  active: number;
  count: number;
}

/** The sum over the uploads (cancelled ones left out). */
export function aggregateProgress(items: readonly UploadItem[]): Progress {
  const counted = items.filter((i) => i.status !== "cancelled");
  const sent = counted.reduce((n, i) => n + (i.status === "done" ? i.size : i.sent), 0);
  const total = counted.reduce((n, i) => n + i.size, 0);
  const done = counted.filter((i) => i.status === "done").length;
  const failed = counted.filter((i) => i.status === "error").length;
  const active = counted.filter((i) => i.status === "queued" || i.status === "uploading").length;
  const allDone = counted.length > 0 && done === counted.length;
  const raw = total > 0 ? (sent / total) * 100 : allDone ? 100 : 0;
  const percent = allDone ? 100 : Math.min(99, Math.floor(raw));
  return { sent, total, percent, done, failed, active, count: counted.length };
}

/** One file's percent (a 0-byte file is 100 when done). */
export function itemPercent(item: UploadItem): number {
  if (item.status === "done") return 100;
  return item.size > 0 ? Math.min(99, Math.floor((item.sent / item.size) * 100)) : 0;
}

/** The tus metadata the manager expects (tus-js-client encodes each value in base64). */
export function uploadMetadata(folderId: string, path: string, file: { name: string; type: string }) {
  return {
    folder: folderId,
    path,
    filename: file.name,
    filetype: file.type || "application/octet-stream",
  };
}

/** The key under which an unfinished upload is remembered for resuming: the same file to the
 * same place (tus-js-client's own key leaves out the destination). */
export function uploadFingerprint(
  folderId: string,
  path: string,
  file: { name: string; size: number; lastModified?: number },
): string {
  return ["berth-upload", folderId, path, file.size, file.lastModified ?? 0].join(":");
}

/** Requests worth sending again: no answer (connection lost), the server busy or failing. A
 * 4xx (bad path, no permission, a directory in the way) fails at once. */
export function shouldRetry(status: number | null): boolean {
  return status === null || status === 0 || status === 423 || status >= 500;
}

/** A readable reason from the manager's answer ({"detail": ...}) or the connection error. */
export function uploadErrorMessage(status: number | null, body: string | null, fallback: string): string {
  if (status === null || status === 0) return "connection lost (Retry resumes the upload)";
  let parsed: unknown = null;
  try {
    parsed = body ? JSON.parse(body) : null;
  } catch {
    parsed = null;
  }
  if (parsed && typeof parsed === "object" && "detail" in parsed) return errorFrom(status, parsed).message;
  if (body && body.length < 300 && !body.trimStart().startsWith("<")) return `${body.trim()} (${status})`;
  return fallback || `upload failed (${status})`;
}

// ---- the queue ----------------------------------------------------------------------------

export interface StartCallbacks {
  onProgress: (sent: number) => void;
  onSuccess: () => void;
  onError: (message: string) => void;
}

/** Starts sending one file; `abort` stops it (the partial upload stays resumable). */
export type Starter = (
  job: { folderId: string; path: string; file: File },
  cb: StartCallbacks,
) => { abort: () => void };

type Listener = () => void;

/** Uploads waiting and running, at most `concurrency` at once. Items are immutable snapshots
 * (for useSyncExternalStore); `onUploaded` is called once per finished file. */
export class UploadQueue {
  private items: UploadItem[] = [];
  private files = new Map<string, File>();
  private running = new Map<string, { abort: () => void }>();
  private listeners = new Set<Listener>();
  private seq = 0;

  constructor(
    private readonly start: Starter,
    private readonly concurrency = CONCURRENCY,
    private readonly onUploaded: (item: UploadItem) => void = () => undefined,
  ) {}

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): UploadItem[] => this.items;

  /** Queues files for `dir` of the folder; files whose path breaks the rules fail at once. */
  add(folderId: string, dir: string, files: readonly File[]): void {
    const added = files.map((file): UploadItem => {
      const id = `u${++this.seq}`;
      const path = destinationPath(dir, file);
      const bad = relativePathError(path);
      this.files.set(id, file);
      return bad
        ? { id, folderId, path, size: file.size, sent: 0, status: "error", error: `file name ${bad}` }
        : { id, folderId, path, size: file.size, sent: 0, status: "queued" };
    });
    this.items = [...this.items, ...added];
    this.pump();
  }

  cancel(id: string): void {
    this.running.get(id)?.abort();
    this.running.delete(id);
    this.update(id, (i) => (i.status === "done" ? i : { ...i, status: "cancelled" }));
    this.pump();
  }

  /** Sends a failed or cancelled file again, resuming from what the server has. */
  retry(id: string): void {
    this.update(id, (i) =>
      i.status === "error" || i.status === "cancelled" ? { ...i, status: "queued", error: undefined } : i,
    );
    this.pump();
  }

  /** Forgets finished, failed and cancelled files. */
  clearFinished(): void {
    this.items = this.items.filter((i) => i.status === "queued" || i.status === "uploading");
    for (const id of [...this.files.keys()]) if (!this.items.some((i) => i.id === id)) this.files.delete(id);
    this.emit();
  }

  /** Stops everything (e.g. the explorer closes); unfinished uploads stay resumable. */
  cancelAll(): void {
    for (const handle of this.running.values()) handle.abort();
    this.running.clear();
    this.items = this.items.map((i) =>
      i.status === "queued" || i.status === "uploading" ? { ...i, status: "cancelled" } : i,
    );
    this.emit();
  }

  private pump(): void {
    for (;;) {
      if (this.running.size >= this.concurrency) break;
      const item = this.items.find((i) => i.status === "queued" && this.files.has(i.id));
      if (!item) break;
      const id = item.id;
      const file = this.files.get(id) as File;
      let handle: { abort: () => void } | null = null;
      this.running.set(id, { abort: () => handle?.abort() });
      this.update(id, (i) => ({ ...i, status: "uploading" }));
      handle = this.start(
        { folderId: item.folderId, path: item.path, file },
        {
          onProgress: (sent) => {
            if (this.running.has(id)) this.update(id, (i) => ({ ...i, sent }));
          },
          onSuccess: () => {
            if (!this.running.delete(id)) return;
            this.update(id, (i) => ({ ...i, sent: i.size, status: "done" }));
            const done = this.items.find((i) => i.id === id);
            if (done) this.onUploaded(done);
            this.pump();
          },
          onError: (message) => {
            if (!this.running.delete(id)) return;
            this.update(id, (i) => ({ ...i, status: "error", error: message }));
            this.pump();
          },
        },
      );
    }
    this.emit();
  }

  private update(id: string, change: (item: UploadItem) => UploadItem): void {
    this.items = this.items.map((i) => (i.id === id ? change(i) : i));
    this.emit();
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

// ---- tus-js-client ------------------------------------------------------------------------

/** The Starter that really uploads, to the manager's /api/uploads. Cookie-authenticated like
 * the rest of the UI: the browser sends the login cookie and the page's Origin, which the
 * manager's CSRF guard checks (there is no token header to add). */
export const tusStarter: Starter = ({ folderId, path, file }, cb) => {
  const upload = new Upload(file, {
    endpoint: new URL("/api/uploads", window.location.origin).toString(),
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    metadata: uploadMetadata(folderId, path, file),
    fingerprint: async () => uploadFingerprint(folderId, path, file),
    onShouldRetry: (err) => shouldRetry(err.originalResponse?.getStatus() ?? null),
    onProgress: (sent) => cb.onProgress(sent),
    onSuccess: () => cb.onSuccess(),
    onError: (err) => {
      const res = err instanceof DetailedError ? err.originalResponse : null;
      cb.onError(uploadErrorMessage(res ? res.getStatus() : null, res ? res.getBody() : null, err.message));
    },
  });
  let stopped = false;
  void upload
    .findPreviousUploads()
    .then((previous) => {
      if (stopped) return;
      if (previous.length > 0) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    })
    .catch(() => {
      if (!stopped) upload.start();
    });
  return {
    abort: () => {
      stopped = true;
      void upload.abort(false);
    },
  };
};
