// Formatting helpers: sizes, CPU, durations, times in the user's own timezone.
import dayjs from "dayjs";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1073741824 -> "1 GiB", 1610612736 -> "1.5 GiB". */
export function formatBytes(value: string | number | undefined | null): string {
  if (value === undefined || value === null || value === "") return "-";
  let n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n)) return String(value);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit += 1;
  }
  const shown = n >= 100 || Number.isInteger(n) ? n.toFixed(0) : n.toFixed(n >= 10 ? 1 : 2);
  return `${Number(shown)} ${UNITS[unit]}`;
}

/** "1" -> "1 core", "0.5" -> "0.5 cores". */
export function formatCpu(value: string | undefined | null): string {
  if (value === undefined || value === null || value === "") return "-";
  const n = Number(value);
  if (!Number.isFinite(n)) return value;
  return `${Number(n.toFixed(2))} ${n === 1 ? "core" : "cores"}`;
}

/** "1 core", "2 cores", "1 session": the count with the word in the right number. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** An environment's name with its version, once: ("Python 3.11", "3.11") -> "Python 3.11",
 * ("C++ (GCC 12)", "gcc12") -> "C++ (GCC 12)", ("R", "4.4") -> "R 4.4". */
export function environmentLabel(displayName: string, version: string): string {
  const squash = (text: string) => text.toLowerCase().replace(/[^a-z0-9.]/g, "");
  if (!version || squash(displayName).includes(squash(version))) return displayName;
  return `${displayName} ${version}`;
}

/** Milliseconds -> "45s", "3m 05s", "2h 03m", "3d 04h". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (x: number) => String(x).padStart(2, "0");
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

/** An ISO time in the browser's timezone, e.g. "2024-05-01 14:03:07". */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  return dayjs(iso).format("YYYY-MM-DD HH:mm:ss");
}

/** The browser's timezone name, shown next to times. */
export function timezoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
}

/** Elapsed time of a session: from start (or creation while not started) to end or now. */
export function elapsedMs(
  s: { created_at: string; started_at: string | null; terminated_at: string | null },
  now: number,
): number {
  const from = Date.parse(s.started_at ?? s.created_at);
  const to = s.terminated_at ? Date.parse(s.terminated_at) : now;
  return to - from;
}

/** 3600 -> "1h", 90 -> "90s". */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "-";
  for (const [unit, size] of [
    ["w", 604800],
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
