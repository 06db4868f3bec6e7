// The idle-check settings of a resource group (defaults) and a resource policy (overrides), as
// the admin dialogs edit them (docs/idle-checks.md). In the API every setting may be null: not
// set (a policy then takes its group's; a group's is off); 0 turns a duration off; thresholds
// {} turn the utilization check off. Pure.

/** The form's fields (flat, so the server's field errors land on them). Durations are in
 * minutes, lifetime in hours; null: not set. */
export interface IdleFormValues {
  /** Groups only (a policy has its own lifetime and idle timeout fields). */
  idle_lifetime_hours?: number | null;
  idle_timeout_minutes?: number | null;
  idle_window_minutes: number | null;
  idle_grace_minutes: number | null;
  /** inherit: the group's (policies only); off; on: the thresholds below. */
  idle_utilization: "inherit" | "off" | "on";
  idle_cpu: number | null;
  idle_mem: number | null;
  idle_accel: number | null;
  idle_accel_mem: number | null;
  idle_combine: "inherit" | "and" | "or";
  idle_warn_minutes: number | null;
}

/** What the API takes and gives. */
export interface IdleSettings {
  max_session_lifetime?: number | null;
  idle_timeout?: number | null;
  utilization_window?: number | null;
  grace_period?: number | null;
  utilization_thresholds?: Record<string, number> | null;
  utilization_combine?: string | null;
  warn_before?: number | null;
}

export const THRESHOLD_FIELDS = [
  { resource: "cpu", field: "idle_cpu", label: "CPU" },
  { resource: "mem", field: "idle_mem", label: "Memory" },
  { resource: "accel", field: "idle_accel", label: "Accelerator" },
  { resource: "accel_mem", field: "idle_accel_mem", label: "Accelerator memory" },
] as const;

/** The server's field -> the form's, for its 422s. */
export const IDLE_ERROR_FIELDS: Record<string, string> = {
  utilization_window: "idle_window_minutes",
  grace_period: "idle_grace_minutes",
  utilization_thresholds: "idle_utilization",
  "utilization_thresholds.cpu": "idle_cpu",
  "utilization_thresholds.mem": "idle_mem",
  "utilization_thresholds.accel": "idle_accel",
  "utilization_thresholds.accel_mem": "idle_accel_mem",
  utilization_combine: "idle_combine",
  warn_before: "idle_warn_minutes",
};

/** A group's extra two (a policy maps them to its own fields). */
export const GROUP_IDLE_ERROR_FIELDS: Record<string, string> = {
  ...IDLE_ERROR_FIELDS,
  max_session_lifetime: "idle_lifetime_hours",
  idle_timeout: "idle_timeout_minutes",
};

export const EMPTY_IDLE: IdleFormValues = {
  idle_lifetime_hours: null,
  idle_timeout_minutes: null,
  idle_window_minutes: null,
  idle_grace_minutes: null,
  idle_utilization: "inherit",
  idle_cpu: null,
  idle_mem: null,
  idle_accel: null,
  idle_accel_mem: null,
  idle_combine: "inherit",
  idle_warn_minutes: null,
};

const seconds = (x: number | null | undefined, unit: number): number | null =>
  x === null || x === undefined ? null : Math.round(x * unit);
const back = (x: number | null | undefined, unit: number): number | null =>
  x === null || x === undefined ? null : Number((x / unit).toFixed(4));

/** The form -> the body's idle settings; `group`: also the lifetime and idle timeout, and
 * "off" is sent as not set (a group's default is off anyway). */
export function idleBody(v: IdleFormValues, group: boolean): IdleSettings {
  let thresholds: Record<string, number> | null = null;
  if (v.idle_utilization === "on") {
    thresholds = {};
    for (const t of THRESHOLD_FIELDS) {
      const value = v[t.field];
      if (value !== null && value !== undefined) thresholds[t.resource] = value;
    }
  } else if (v.idle_utilization === "off") {
    thresholds = group ? null : {};
  }
  const body: IdleSettings = {
    utilization_window: seconds(v.idle_window_minutes, 60),
    grace_period: seconds(v.idle_grace_minutes, 60),
    utilization_thresholds: thresholds,
    utilization_combine: v.idle_combine === "inherit" ? null : v.idle_combine,
    warn_before: seconds(v.idle_warn_minutes, 60),
  };
  if (group) {
    body.max_session_lifetime = seconds(v.idle_lifetime_hours, 3600);
    body.idle_timeout = seconds(v.idle_timeout_minutes, 60);
  }
  return body;
}

/** A group's or policy's settings -> the form. */
export function idleValues(s: IdleSettings, group: boolean): IdleFormValues {
  const t = s.utilization_thresholds;
  const has = t !== null && t !== undefined;
  const mode: IdleFormValues["idle_utilization"] = has && Object.keys(t).length > 0 ? "on" : has || group ? "off" : "inherit";
  const combine = s.utilization_combine === "and" || s.utilization_combine === "or" ? s.utilization_combine : "inherit";
  const values: IdleFormValues = {
    idle_window_minutes: back(s.utilization_window, 60),
    idle_grace_minutes: back(s.grace_period, 60),
    idle_utilization: mode,
    idle_cpu: t?.cpu ?? null,
    idle_mem: t?.mem ?? null,
    idle_accel: t?.accel ?? null,
    idle_accel_mem: t?.accel_mem ?? null,
    idle_combine: combine,
    idle_warn_minutes: back(s.warn_before, 60),
  };
  if (group) {
    values.idle_lifetime_hours = back(s.max_session_lifetime, 3600);
    values.idle_timeout_minutes = back(s.idle_timeout, 60);
  }
  return values;
}

/** "cpu 5% · mem 10% (and)", "off", or null when not set. */
export function thresholdsText(s: IdleSettings): string | null {
  const t = s.utilization_thresholds;
  if (t === null || t === undefined) return null;
  const parts = Object.entries(t).map(([k, v]) => `${k} ${v}%`);
  if (parts.length === 0) return "off";
  return `${parts.join(" · ")}${s.utilization_combine ? ` (${s.utilization_combine})` : ""}`;
}

/** The table's summary of a group's or policy's idle settings: one short line per set value;
 * empty when nothing is set. */
export function idleSummary(s: IdleSettings, duration: (seconds: number) => string): string[] {
  const lines: string[] = [];
  const d = (label: string, x: number | null | undefined) => {
    if (x === null || x === undefined) return;
    lines.push(`${label} ${x === 0 ? "off" : duration(x)}`);
  };
  d("lifetime", s.max_session_lifetime);
  d("idle", s.idle_timeout);
  const thresholds = thresholdsText(s);
  if (thresholds) lines.push(`utilization ${thresholds}`);
  d("window", s.utilization_window);
  d("grace", s.grace_period);
  d("warn", s.warn_before);
  return lines;
}

/** A form problem the server would refuse less clearly: "on" without any threshold. */
export function idleProblem(v: IdleFormValues): { field: keyof IdleFormValues; message: string } | null {
  if (v.idle_utilization !== "on") return null;
  const any = THRESHOLD_FIELDS.some((t) => v[t.field] !== null && v[t.field] !== undefined);
  return any ? null : { field: "idle_cpu", message: "Give at least one threshold, or turn the check off" };
}

/** Split a dialog's values into its idle fields and the rest. */
export function splitIdle<T extends object>(v: T): { idle: IdleFormValues; rest: Omit<T, keyof IdleFormValues> } {
  const idle: Record<string, unknown> = { ...EMPTY_IDLE };
  const rest: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(v)) {
    if (k in EMPTY_IDLE) idle[k] = value === undefined ? (EMPTY_IDLE as unknown as Record<string, unknown>)[k] : value;
    else rest[k] = value;
  }
  return { idle: idle as unknown as IdleFormValues, rest: rest as Omit<T, keyof IdleFormValues> };
}

/** The idle fields of a form's store (getFieldsValue(true)), whether or not they are mounted. */
export function storedIdle(store: Record<string, unknown>): Partial<IdleFormValues> {
  return Object.fromEntries(Object.entries(store).filter(([k]) => k in EMPTY_IDLE)) as Partial<IdleFormValues>;
}
