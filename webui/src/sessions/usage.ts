// Live usage figures (GET /api/sessions/{ref}/usage, SessionOut.usage): their wording and the
// sparklines' path maths. Pure.
import { formatBytes } from "../format";
import type { KernelUsage, Session, UsagePoint } from "../types";
import { formatPercent } from "./idle";

/** "35%" (of one core: two busy cores read 200%); "-" when not known. */
export function cpuText(percent: number | null | undefined): string {
  return percent === null || percent === undefined ? "-" : formatPercent(percent);
}

/** "512 MiB of 1 GiB", "512 MiB" without a limit; "-" when not known. */
export function memText(used: number | null | undefined, limit?: number | null): string {
  if (used === null || used === undefined) return "-";
  return limit ? `${formatBytes(used)} of ${formatBytes(limit)}` : formatBytes(used);
}

/** Bytes per second: "0 B/s", "1.5 KiB/s"; "-" when not known. */
export function rateText(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return "-";
  return `${formatBytes(Math.max(0, Math.round(rate)))}/s`;
}

/** The sessions list's CPU and Memory cells of a RUNNING session: its live figures, or null
 * for the plain dash (no sample yet, or not running). */
export function listUsage(s: Pick<Session, "status" | "usage">): { cpu: string; mem: string } | null {
  if (s.status !== "RUNNING" || !s.usage) return null;
  return { cpu: cpuText(s.usage.cpu_percent), mem: memText(s.usage.mem_bytes) };
}

/** Whether any sample of the kernel has accelerator figures (the row is shown only then). */
export function hasAccelerator(k: KernelUsage): boolean {
  return k.series.concat(k.latest ? [k.latest] : []).some(
    (p) => (p.accel_percent ?? null) !== null || (p.accel_mem_bytes ?? null) !== null,
  );
}

export type Series = (number | null)[];

/** One figure of every sample, oldest first (null where unknown). */
export function seriesOf(points: UsagePoint[], pick: (p: UsagePoint) => number | null | undefined): Series {
  return points.map((p) => {
    const v = pick(p);
    return v === null || v === undefined || !Number.isFinite(v) ? null : v;
  });
}

/** The top of a sparkline's scale: the largest value, at least `floor`, never 0. */
export function scaleMax(series: Series[], floor = 0): number {
  let top = floor;
  for (const s of series) for (const v of s) if (v !== null && v > top) top = v;
  return top > 0 ? top : 1;
}

/** An SVG path ("M x y L x y …") of a series drawn into width × height with `max` at the top,
 * the samples spread evenly from left to right; a gap (null) starts a new segment, and a lone
 * value is a short flat stroke so it shows. "" when there is nothing to draw. */
export function sparkPath(values: Series, width: number, height: number, max: number): string {
  const n = values.length;
  if (n === 0) return "";
  const step = n > 1 ? width / (n - 1) : 0;
  const y = (v: number) => {
    const clamped = Math.min(Math.max(v / (max > 0 ? max : 1), 0), 1);
    // Keep a half pixel off the edges so a stroke at 0 or at the top is not cut.
    return round(height - 0.5 - clamped * (height - 1));
  };
  const parts: string[] = [];
  let run: string[] = [];
  const flush = (lastX: number, lastY: number) => {
    if (run.length === 1) run.push(`L ${round(Math.min(lastX + Math.max(step / 2, 2), width))} ${lastY}`);
    parts.push(...run);
    run = [];
  };
  let lastX = 0;
  let lastY = 0;
  values.forEach((v, i) => {
    if (v === null) {
      if (run.length) flush(lastX, lastY);
      return;
    }
    lastX = n > 1 ? round(i * step) : 0;
    lastY = y(v);
    run.push(`${run.length ? "L" : "M"} ${lastX} ${lastY}`);
  });
  if (run.length) flush(lastX, lastY);
  return parts.join(" ");
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
