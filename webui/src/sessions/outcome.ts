// How a session went, at a glance: the decision behind the Result tag of finished sessions and
// the colour (and auto-close) of a session's notification. Pure: no React, no clock.
import { ENDED, type SessionStatus, type SessionType } from "../types";

export type OutcomeKind = "success" | "failure" | "neutral";

export interface Outcome {
  kind: OutcomeKind;
  /** "Succeeded", "Failed", "Ended", "Cancelled". */
  label: string;
  /** The main kernel's exit code, when it tells something (a batch command's, a crash's). */
  exitCode: number | null;
}

export interface OutcomeInput {
  type: SessionType;
  status: SessionStatus;
  status_info: string;
  result: "UNDEFINED" | "SUCCESS" | "FAILURE";
  exit_code: number | null;
}

/** Reasons that end a session badly although its status is TERMINATED. */
const FAILED_REASONS = new Set([
  "task-failed",
  "task-timeout",
  "failed-to-start",
  "kernel-died",
  "kernel-lost",
  "agent-lost",
  "stuck-in-transition",
]);
/** The user (or an admin) ended it: the container's exit code is the signal's, not news. */
const ENDED_ON_REQUEST = new Set([
  "user-requested", "force-terminated", "idle-timeout", "idle-session-lifetime", "idle-utilization",
]);

/** How a finished session went; null while it has not ended. */
export function sessionOutcome(s: OutcomeInput): Outcome | null {
  if (!ENDED.has(s.status)) return null;
  const code = s.exit_code;
  if (s.status === "CANCELLED") return { kind: "neutral", label: "Cancelled", exitCode: null };
  if (s.status === "ERROR" || s.result === "FAILURE" || FAILED_REASONS.has(s.status_info)) {
    return { kind: "failure", label: "Failed", exitCode: code };
  }
  if (s.result === "SUCCESS") return { kind: "success", label: "Succeeded", exitCode: code };
  if (ENDED_ON_REQUEST.has(s.status_info)) return { kind: "success", label: "Ended", exitCode: null };
  // Ended on its own (self-terminated): the exit code decides.
  if (code !== null && code !== 0) return { kind: "failure", label: "Failed", exitCode: code };
  return { kind: "success", label: s.type === "batch" ? "Succeeded" : "Ended", exitCode: code };
}

/** What a session's notification shows: "progress" while starting (it stays), "success" once
 * RUNNING or ended well (it closes by itself), "failure" (it stays until closed), "neutral"
 * (cancelled: closes by itself). */
export type NoticeKind = "progress" | OutcomeKind;

export function noticeKind(s: OutcomeInput): NoticeKind {
  const outcome = sessionOutcome(s);
  if (outcome) return outcome.kind;
  return s.status === "RUNNING" ? "success" : "progress";
}

/** "Failed · exit 3", "Succeeded · exit 0", "Ended". */
export function outcomeText(o: Outcome): string {
  return o.exitCode === null ? o.label : `${o.label} · exit ${o.exitCode}`;
}
