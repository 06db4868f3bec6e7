// The idle checks of the detail panel (PRODUCT.md §7): labels, the remaining time counting down
// between two loads of the session, its colour, and the utilization tooltip's lines. Pure; the
// maths of the checks themselves is the manager's (berth.domain.idle), this only displays it.
import type { IdleCheck, IdleCheckName, IdleResource } from "../types";

export const CHECK_LABEL: Record<IdleCheckName, string> = {
  "session-lifetime": "Max session lifetime",
  "network-timeout": "Network idle timeout",
  utilization: "Utilization checker",
};

export const CHECK_HELP: Record<IdleCheckName, string> = {
  "session-lifetime": "The session is terminated this long after it started, whatever it does.",
  "network-timeout":
    "The session is terminated after this long without traffic between you and it (apps, terminal, " +
    "logs, SSH), even if a process in it is busy. Batch sessions are exempt.",
  utilization:
    "After the grace period, the session is terminated when the average use of its requested " +
    "resources over the last window stays below their thresholds. The time shown is how long it " +
    "has left if it stays idle from now on; using it keeps it up.",
};

/** Same words as the manager's (domain/idle.py). */
export const REACHED_TEXT = "time reached, checking…";
export const NOT_APPLICABLE_TEXT = "-";
/** Below these many seconds a remaining time is red, then orange (PRODUCT.md §7). */
export const RED_BELOW = 3600;
export const ORANGE_BELOW = 4 * 3600;

export type Urgency = "red" | "orange";

/** Colours of the remaining times and the tooltip's levels (Ant Design's palette). */
export const COLOR = {
  red: "#cf1322",
  orange: "#d46b08",
  yellow: "#ad8b00",
  grey: "#8c8c8c",
} as const;

/** "red" under an hour, "orange" under four, else null (as domain/idle.urgency). */
export function urgencyOf(remaining: number | null): Urgency | null {
  if (remaining === null) return null;
  if (remaining < RED_BELOW) return "red";
  return remaining < ORANGE_BELOW ? "orange" : null;
}

/** "2d 03h", "4h 05m", "12m 30s", "45s" (seconds rounded up, so a time not reached never shows
 * 0s); REACHED_TEXT at 0 or below; "-" for null. The manager's format_remaining, in TypeScript. */
export function formatRemaining(remaining: number | null): string {
  if (remaining === null) return NOT_APPLICABLE_TEXT;
  if (remaining <= 0) return REACHED_TEXT;
  const seconds = Math.ceil(remaining);
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const secs = seconds % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (days) return `${days}d ${pad(hours)}h`;
  if (hours) return `${hours}h ${pad(minutes)}m`;
  return minutes ? `${minutes}m ${pad(secs)}s` : `${secs}s`;
}

/** How one check reads now. */
export interface CheckView {
  /** "off": the check does not apply; "counting": a time left; "reached": at its deadline. */
  state: "off" | "counting" | "reached";
  text: string;
  urgency: Urgency | null;
  /** Why it is off ("not configured", "batch sessions are exempt"), else null. */
  reason: string | null;
}

/** A check as shown `elapsed` seconds after the session was loaded. The lifetime and network
 * checks count down to their fixed deadline; the utilization check's time is a lower bound the
 * manager recomputes from each sample (it stays up while the session is used), so it is shown as
 * loaded, never counted down here, which would mislead while the session is busy. */
export function checkView(check: IdleCheck, elapsed: number): CheckView {
  if (!check.enabled || check.remaining === null) {
    const reason = typeof check.detail?.reason === "string" ? check.detail.reason : null;
    return { state: "off", text: NOT_APPLICABLE_TEXT, urgency: null, reason };
  }
  const ticking = check.check !== "utilization";
  const remaining = ticking ? check.remaining - Math.max(0, elapsed) : check.remaining;
  if (check.reached || remaining <= 0) return { state: "reached", text: REACHED_TEXT, urgency: "red", reason: null };
  return {
    state: "counting",
    text: formatRemaining(remaining),
    urgency: ticking ? urgencyOf(remaining) : check.urgency,
    reason: null,
  };
}

const RESOURCE_LABEL: Record<string, string> = {
  cpu: "CPU",
  mem: "Memory",
  accel: "Accelerator",
  accel_mem: "Accelerator memory",
};

export function resourceLabel(resource: string): string {
  return RESOURCE_LABEL[resource] ?? resource;
}

/** "12.5%", "3%", "0.25%". */
export function formatPercent(value: number): string {
  const digits = Math.abs(value) >= 10 || Number.isInteger(value) ? 0 : Math.abs(value) >= 1 ? 1 : 2;
  return `${Number(value.toFixed(digits))}%`;
}

/** One line of the utilization tooltip. */
export interface ResourceLine {
  label: string;
  /** "CPU 12.5% / 5%", "Memory no data / 10%". */
  text: string;
  /** Yellow near the threshold, red below it, grey without data; null: plain. */
  color: string | null;
  /** A remark: the part of the window with data, when not all of it. */
  note: string | null;
}

export function resourceLine(r: IdleResource): ResourceLine {
  const label = resourceLabel(r.resource);
  const threshold = formatPercent(r.threshold);
  if (r.average === null || r.coverage === "none") {
    return { label, text: `${label}: no data / ${threshold}`, color: COLOR.grey, note: "ignored until it has data" };
  }
  const color = r.level === "below" ? COLOR.red : r.level === "near" ? COLOR.yellow : null;
  const note = r.coverage === "partial" ? `data for ${coveredText(r.covered)} of the window: no verdict yet` : null;
  return { label, text: `${label}: ${formatPercent(r.average)} / ${threshold}`, color, note };
}

/** 0.4 -> "40%"; a sliver is "under 1%", never "0%" (some data is there). */
export function coveredText(covered: number): string {
  const pct = covered * 100;
  if (pct > 0 && pct < 1) return "under 1%";
  return `${Math.min(99, Math.round(pct))}%`;
}

/** The rule of the utilization check, in words. */
export function combineText(combine: "and" | "or" | null): string | null {
  if (combine === "and") return "Terminated when every resource with data is below its threshold.";
  if (combine === "or") return "Terminated when any resource is below its threshold.";
  return null;
}

/** Where the utilization check is (its detail.phase): a remark next to its time. */
export function phaseText(check: IdleCheck): string | null {
  const phase = check.detail?.phase;
  if (phase === "grace") return "in grace period";
  if (phase === "filling") return "measuring, window not full yet";
  return null;
}
