// The notice of a `session.idle-warning` event: an idle check will reclaim a session soon.
import { CHECK_LABEL, formatRemaining } from "../sessions/idle";
import type { IdleWarningEvent } from "../types";

/** Whether the notice is for this user: the session's owner or creator (admins also receive
 * the events of other users' sessions, which are not theirs to act on). */
export function isMine(e: Pick<IdleWarningEvent, "owner_id" | "creator_id">, userId: string): boolean {
  return e.owner_id === userId || e.creator_id === userId;
}

/** One notice per session and check: a repeated warning updates it in place. */
export function warningKey(e: Pick<IdleWarningEvent, "session_id" | "check">): string {
  return `idle-${e.session_id}-${e.check}`;
}

export function warningTitle(e: Pick<IdleWarningEvent, "name" | "check">): string {
  return `Session ${e.name}: ${CHECK_LABEL[e.check] ?? e.check}`;
}

const ADVICE: Record<IdleWarningEvent["check"], string> = {
  "session-lifetime": "It reaches its maximum lifetime; save your work.",
  "network-timeout": "No traffic with it for a while: use it (an app, the terminal) to keep it.",
  utilization: "Its resources are barely used: use them to keep it.",
};

/** "Terminated in 4m 30s. <advice>"; `elapsed`: seconds since the event arrived. */
export function warningText(e: Pick<IdleWarningEvent, "check" | "remaining">, elapsed: number): string {
  const left = e.remaining - Math.max(0, elapsed);
  const when = left > 0 ? `Terminated in ${formatRemaining(left)}.` : "Time reached: it is being terminated.";
  return `${when} ${ADVICE[e.check] ?? ""}`.trim();
}
