// Commit to image (PRODUCT.md §8, docs/commit.md): the pure rules the web UI needs. The name
// rule is the server's (src/berth/domain/commits.py name_problem); the progress text and the
// customized-image helpers read the API's CommitOut and ImageOut.
import { formatBytes } from "../format";

export const COMMIT_NAME_MIN = 4;
export const COMMIT_NAME_MAX = 32;
const COMMIT_NAME_RE = /^[A-Za-z0-9_-]+$/;

/** Why `name` cannot name a customized image (the server's words), or null when it can. */
export function commitNameError(name: string): string | null {
  if (name.length < COMMIT_NAME_MIN || name.length > COMMIT_NAME_MAX) {
    return `must be ${COMMIT_NAME_MIN} to ${COMMIT_NAME_MAX} characters of letters, digits, '-' and '_' (got ${name.length} characters)`;
  }
  if (!COMMIT_NAME_RE.test(name)) return "may contain only letters, digits, '-' and '_'";
  return null;
}

/** The fields of a commit task the UI shows (CommitOut). */
export interface CommitProgress {
  status: string;
  phase: string;
  progress: number;
  size: number | null;
  reason: string;
}

const PHASES: Record<string, string> = {
  preparing: "Preparing",
  committing: "Saving the container",
  scrubbing: "Removing Berth's files",
  done: "Done",
  failed: "Failed",
};

/** Whether the task has ended (done or failed): polling stops. */
export function commitFinished(task: Pick<CommitProgress, "status">): boolean {
  return task.status === "done" || task.status === "failed";
}

/** "Waiting for the agent" (pending), else the phase in words. */
export function phaseText(task: Pick<CommitProgress, "status" | "phase">): string {
  if (task.status === "pending") return "Waiting for the agent";
  return PHASES[task.phase] ?? task.phase;
}

/** One line: "Saving the container · 20%", with " · 1.2 GiB" once the size is known. */
export function progressText(task: CommitProgress): string {
  const parts = [phaseText(task)];
  if (task.status !== "failed") parts.push(`${Math.round(task.progress)}%`);
  if (task.size !== null && task.size > 0) parts.push(formatBytes(task.size));
  return parts.join(" · ");
}

/** The progress bar's state: active while running, success when done, exception on failure. */
export function progressStatus(task: Pick<CommitProgress, "status">): "active" | "success" | "exception" {
  if (task.status === "done") return "success";
  if (task.status === "failed") return "exception";
  return "active";
}

/** The batch / ownership / status reason the "Convert to image" action is disabled, or null. */
export function commitBlocker(
  s: { type: string; status: string; owner_id: string },
  userId: string,
): string | null {
  if (s.type === "batch") return "Batch sessions cannot be converted to an image (only interactive ones can)";
  if (s.owner_id !== userId) return "Only the session's owner can convert it to an image";
  if (s.status !== "RUNNING") return `Only RUNNING sessions can be converted (this one is ${s.status})`;
  return null;
}

/** Image labels of a customized image (src/berth/domain/commits.py). */
export const LABEL_CUSTOMIZED_NAME = "berth.customized-name";
export const LABEL_CUSTOMIZED_OWNER = "berth.customized-owner";

/** The name its owner gave a customized image, or null for any other image. */
export function customizedName(image: { labels?: Record<string, string> }): string | null {
  const name = image.labels?.[LABEL_CUSTOMIZED_NAME];
  return name ? name : null;
}
