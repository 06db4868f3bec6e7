// The launcher's resource step without React: the shapes of the check API (GET
// /api/resource-check) and presets, what a preset sets, what is remaining and where it runs out,
// the accelerator slots a group offers and their rules, and the hard limits (errors) and soft
// ones (warnings: the session waits in the queue).
import { formatBytes, formatCpu, plural } from "../format";

/** slot name -> decimal string: cpu in cores, mem and shmem in bytes. */
export type SlotMap = Record<string, string>;

export interface Preset {
  id: string;
  name: string;
  /** null: a global preset. */
  resource_group: string | null;
  slots: SlotMap;
}

export interface CheckPreset {
  id: string;
  name: string;
  slots: SlotMap;
  /** Whether it fits what is remaining now. */
  allocatable: boolean;
}

export type ScopeKind = "user" | "project" | "group";

export interface Scope {
  /** The policy's name (user, project; null: no policy) or the group's. */
  name: string | null;
  /** Policy totals; an absent slot is unlimited. */
  limits: SlotMap;
  used: SlotMap;
  /** An absent slot is unlimited. */
  remaining: SlotMap;
  max_concurrent_sessions: number | null;
  concurrent_sessions: number;
  max_pending_sessions: number | null;
  pending_sessions: number;
}

export interface CheckAgent {
  id: string;
  free: SlotMap;
  capacity: SlotMap;
}

export interface ResourceCheck {
  resource_group: string;
  project: string | null;
  presets: CheckPreset[];
  scopes: Partial<Record<ScopeKind, Scope | null>>;
  /** The largest schedulable agent's capacity in the group (what one container may get). */
  max_per_container: SlotMap;
  agents: CheckAgent[];
  /** The accelerator slots the group's agents offer (absent: an older manager: none). */
  accelerators?: AcceleratorSlot[];
}

/** An accelerator slot a group offers: `<plugin>.device` (whole devices, step 1) or
 * `<plugin>.shares` (a fraction of one device, step = the group's quantum). For these slots an
 * agent's `free` is what ONE new kernel could get there now. */
export interface AcceleratorSlot {
  name: string;
  /** The slot's prefix: cuda, mock-gpu, ... */
  plugin: string;
  description: string;
  /** Decimal string: amounts are multiples of it. */
  step: string;
  /** A mock plugin's (tests, demos), not hardware. */
  mock: boolean;
}

/** An agent as GET /api/agents lists it (the fields the launcher reads). */
export interface AgentLike {
  id: string;
  status: string;
  resource_group: string;
  capacity: SlotMap;
  free: SlotMap;
  schedulable?: boolean;
}

export const CUSTOM = "custom";
/** The slots every session has; any other slot is an accelerator's. */
export const BASE_SLOTS = ["cpu", "mem", "shmem"];
export const AUTO_AGENT = "";
export const SCOPES: ScopeKind[] = ["user", "project", "group"];
const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** The form fields a preset's slots set (cpu; mem and shmem as value + unit; the accelerator
 * slot and amount, 0 when the preset has none). */
export function presetValues(slots: SlotMap): {
  cpu?: number;
  memValue?: number;
  memUnit?: "m" | "g";
  shmemAuto?: boolean;
  shmemValue?: number;
  shmemUnit?: "m" | "g";
  accelerator?: string;
  acceleratorAmount?: number;
} {
  const out: ReturnType<typeof presetValues> = {};
  if (slots.cpu !== undefined) out.cpu = Number(slots.cpu);
  if (slots.mem !== undefined) {
    const s = splitBytes(Number(slots.mem));
    out.memValue = s.value;
    out.memUnit = s.unit;
  }
  if (slots.shmem !== undefined) {
    const s = splitBytes(Number(slots.shmem));
    out.shmemAuto = false;
    out.shmemValue = s.value;
    out.shmemUnit = s.unit;
  } else {
    out.shmemAuto = true;
  }
  const accel = acceleratorOf(slots);
  if (accel) {
    out.accelerator = accel.slot;
    out.acceleratorAmount = accel.amount;
  } else {
    out.acceleratorAmount = 0;
  }
  return out;
}

function splitBytes(bytes: number): { value: number; unit: "m" | "g" } {
  if (bytes >= GIB && bytes % (GIB / 4) === 0) return { value: bytes / GIB, unit: "g" };
  return { value: Math.round((bytes / MIB) * 100) / 100, unit: "m" };
}

/** A short description of a preset's slots: "2 cores, 4 GiB (shm 1 GiB)". */
export function presetLabel(slots: SlotMap): string {
  const parts: string[] = [];
  if (slots.cpu !== undefined) parts.push(formatCpu(slots.cpu));
  if (slots.mem !== undefined) parts.push(formatBytes(slots.mem));
  let text = parts.join(", ");
  if (slots.shmem !== undefined) text += ` (shm ${formatBytes(slots.shmem)})`;
  for (const [k, v] of Object.entries(slots)) {
    if (!BASE_SLOTS.includes(k)) text += `, ${acceleratorText(k, Number(v))}`;
  }
  return text;
}

/** The presets offered for a group: global ones and that group's, by name. */
export function presetsFor(presets: Preset[], group: string): Preset[] {
  return presets
    .filter((p) => p.resource_group === null || p.resource_group === group)
    .sort((a, b) => a.name.localeCompare(b.name));
}

// ---- what may be asked, and what is left ---------------------------------------------------

export interface Remaining {
  amount: number;
  scope: ScopeKind;
  name: string | null;
}

export interface PolicyTotal {
  scope: ScopeKind;
  name: string | null;
  limit: number;
}

export interface ResourceView {
  /** Per container: the largest (alive, schedulable) agent's capacity in the group. */
  maxPerContainer: Record<string, number>;
  /** The least remaining over user, project and group, per slot (absent: unlimited / unknown). */
  remaining: Record<string, Remaining>;
  /** User and project policy totals per slot (hard limits). */
  totals: Record<string, PolicyTotal[]>;
  /** The most any one agent of the group has free now, per slot. */
  largestFree: Record<string, number>;
  /** The agents of the group that may take sessions, with their free resources. */
  agents: CheckAgent[];
  /** Concurrent-session policies, where set. */
  concurrency: { scope: ScopeKind; name: string | null; max: number; current: number }[];
}

function maxOver(agents: CheckAgent[], what: "free" | "capacity"): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of agents) {
    for (const [k, v] of Object.entries(a[what])) out[k] = Math.max(out[k] ?? 0, Number(v));
  }
  return out;
}

/** What the launcher knows of a group: from the check API when it answered, else from the
 * agents list (the largest agent's capacity and free resources only). */
export function resourceView(check: ResourceCheck | null, agents: AgentLike[], group: string): ResourceView {
  if (!check) {
    const mine = agents
      .filter((a) => a.status === "ALIVE" && a.resource_group === group && a.schedulable !== false)
      .map((a) => ({ id: a.id, free: a.free, capacity: a.capacity }));
    return {
      maxPerContainer: maxOver(mine, "capacity"),
      remaining: {},
      totals: {},
      largestFree: maxOver(mine, "free"),
      agents: mine,
      concurrency: [],
    };
  }
  const remaining: Record<string, Remaining> = {};
  const totals: Record<string, PolicyTotal[]> = {};
  const concurrency: ResourceView["concurrency"] = [];
  for (const kind of SCOPES) {
    const scope = check.scopes[kind];
    if (!scope) continue;
    for (const [slot, text] of Object.entries(scope.remaining)) {
      const amount = Math.max(0, Number(text));
      if (!(slot in remaining) || amount < remaining[slot].amount) {
        remaining[slot] = { amount, scope: kind, name: scope.name };
      }
    }
    if (kind !== "group") {
      for (const [slot, text] of Object.entries(scope.limits)) {
        (totals[slot] ??= []).push({ scope: kind, name: scope.name, limit: Number(text) });
      }
    }
    if (scope.max_concurrent_sessions !== null && scope.max_concurrent_sessions !== undefined) {
      concurrency.push({
        scope: kind,
        name: scope.name,
        max: scope.max_concurrent_sessions,
        current: scope.concurrent_sessions,
      });
    }
  }
  const maxPerContainer: Record<string, number> = {};
  for (const [k, v] of Object.entries(check.max_per_container)) maxPerContainer[k] = Number(v);
  return {
    maxPerContainer,
    remaining,
    totals,
    largestFree: maxOver(check.agents, "free"),
    agents: check.agents,
    concurrency,
  };
}

/** Where the "remaining" mark sits on a slider of one session's kernel: what is left divided
 * among the sessions and kernels asked for; null when unlimited or unknown. */
export function remainingMark(view: ResourceView, slot: string, sessions: number, clusterSize: number): number | null {
  const r = view.remaining[slot];
  if (!r) return null;
  return r.amount / Math.max(1, sessions) / Math.max(1, clusterSize);
}

// ---- accelerators ----------------------------------------------------------------------------

/** `<plugin>.shares`: a fraction of one device (else whole devices). */
export function isShares(slot: string): boolean {
  return slot.endsWith(".shares");
}

/** "mock-gpu.shares" -> "mock-gpu". */
export function slotPlugin(slot: string): string {
  const dot = slot.lastIndexOf(".");
  return dot > 0 ? slot.slice(0, dot) : slot;
}

/** A number without binary-fraction noise: 0.30000000000000004 -> "0.3". */
export function decimalText(n: number): string {
  return String(Number(n.toFixed(6)));
}

/** "2 mock-gpu devices", "1 cuda device", "0.5 of a mock-gpu device". */
export function acceleratorText(slot: string, amount: number): string {
  const plugin = slotPlugin(slot);
  if (isShares(slot)) return `${decimalText(amount)} of a ${plugin} device`;
  if (slot.endsWith(".device")) return `${decimalText(amount)} ${plugin} device${amount === 1 ? "" : "s"}`;
  return `${slot} ${decimalText(amount)}`;
}

/** The accelerator slot and amount of a request's or a preset's slots: the first slot other
 * than cpu, mem and shmem with an amount above 0 (by name); null when there is none. */
export function acceleratorOf(slots: Record<string, unknown>): { slot: string; amount: number } | null {
  for (const key of Object.keys(slots).sort()) {
    if (BASE_SLOTS.includes(key)) continue;
    const amount = Number(slots[key]);
    if (Number.isFinite(amount) && amount > 0) return { slot: key, amount };
  }
  return null;
}

/** The step of a slot: the group's (as offered), else 1 for whole devices and 0.1 (the default
 * quantum) for shares. */
export function acceleratorStep(slot: string, offered: AcceleratorSlot[]): number {
  const known = Number(offered.find((s) => s.name === slot)?.step);
  if (Number.isFinite(known) && known > 0) return known;
  return isShares(slot) ? 0.1 : 1;
}

function decimals(step: number): number {
  const text = decimalText(step);
  return text.includes(".") ? text.length - text.indexOf(".") - 1 : 0;
}

/** Whether `amount` is a whole number of `step`s (within rounding noise). */
export function isMultipleOf(amount: number, step: number): boolean {
  const q = amount / step;
  return Math.abs(q - Math.round(q)) < 1e-6;
}

/** `amount` rounded to the nearest multiple of `step`, with no binary-fraction noise. */
export function roundToStep(amount: number, step: number): number {
  return Number((Math.round(amount / step) * step).toFixed(decimals(step)));
}

/** The most one kernel may ask of a slot: the largest agent's capacity; for shares at most 1
 * (a fraction of one device). null: not known (no agent reports the slot). */
export function acceleratorMax(view: ResourceView, slot: string): number | null {
  const max = view.maxPerContainer[slot];
  if (max === undefined) return isShares(slot) ? 1 : null;
  return isShares(slot) ? Math.min(1, max) : max;
}

/** The basic rules of one accelerator amount (what the server refuses whatever the agents
 * hold), as the message for the field `resources.<slot>`; null when it passes. `offered`:
 * the group's slots, null while not known (not checked then). */
export function acceleratorError(
  slot: string,
  amount: number | null,
  opts: { step: number; clusterSize: number; offered: AcceleratorSlot[] | null; group: string },
): string | null {
  if (amount === null || !Number.isFinite(amount)) return "enter an amount (0: none)";
  if (amount < 0) return "must not be negative";
  if (amount === 0) return null;
  const plugin = slotPlugin(slot);
  if (opts.offered !== null && !opts.offered.some((s) => s.name === slot)) {
    return `the resource group '${opts.group}' offers no ${slot}: choose another type or 0`;
  }
  if (!isShares(slot) && !Number.isInteger(amount)) {
    return `must be a whole number of devices; for a fraction of one device choose ${plugin} shares`;
  }
  if (isShares(slot) && amount > 1) {
    return `${decimalText(amount)} is more than one device: shares are a fraction of one device (at most 1); choose whole ${plugin} devices instead`;
  }
  if (isShares(slot) && !isMultipleOf(amount, opts.step)) {
    return `${decimalText(amount)} is not a multiple of the step ${decimalText(opts.step)}`;
  }
  if (isShares(slot) && opts.clusterSize >= 2) {
    return "cluster sessions (2 or more kernels) may use whole devices only";
  }
  return null;
}

/** Where the "remaining" mark sits on an accelerator slider (per kernel of one of `sessions`
 * sessions); null when unlimited, unknown, or only the group's sum of shares (not a total one
 * kernel could use). */
export function acceleratorRemaining(view: ResourceView, slot: string, sessions: number, clusterSize: number): number | null {
  if (isShares(slot) && view.remaining[slot]?.scope === "group") return null;
  return remainingMark(view, slot, sessions, clusterSize);
}

/** The accelerator part of the form's rules: the basic rule's message for `resources.<slot>`
 * (null: it passes) and what `resourceRules` should weigh (null: nothing asked, or it broke a
 * basic rule). `slot` "": none chosen (nothing is asked). */
export function acceleratorAsk(
  slot: string,
  amount: number | null,
  ctx: { clusterSize: number; check: ResourceCheck | null; group: string },
): { error: string | null; ask: { slot: string; amount: number } | null } {
  if (!slot) return { error: null, ask: null };
  const offered = ctx.check ? ctx.check.accelerators ?? [] : null;
  const error = acceleratorError(slot, amount, {
    step: acceleratorStep(slot, offered ?? []),
    clusterSize: ctx.clusterSize,
    offered,
    group: ctx.group,
  });
  return { error, ask: !error && amount ? { slot, amount } : null };
}

// ---- rules -----------------------------------------------------------------------------------

export interface Ask {
  /** Per kernel, as the body's resources: cpu cores, mem and shmem bytes (null: not valid). */
  cpu: number | null;
  mem: number | null;
  count: number;
  clusterSize: number;
  /** "" = any agent. */
  agent: string;
  /** Per kernel, an accelerator slot and its amount (> 0) that passed the basic rules. */
  accelerator?: { slot: string; amount: number } | null;
}

const SLOT_FIELD: Partial<Record<string, string>> = { cpu: "resources.cpu", mem: "resources.mem" };
/** "your policy 'small'", "the project's policy 'lab'", "the resource group 'gpu'". */
export function scopeName(kind: ScopeKind, name: string | null): string {
  const quoted = name ? ` '${name}'` : "";
  if (kind === "user") return `your policy${quoted}`;
  if (kind === "project") return `the project's policy${quoted}`;
  return `the resource group${quoted}`;
}

function show(slot: string, amount: number): string {
  if (slot === "cpu") return formatCpu(String(Math.round(amount * 100) / 100));
  if (slot === "mem" || slot === "shmem") return formatBytes(amount);
  return acceleratorText(slot, amount);
}

function times(ask: Ask, slot: string, perKernel: number): string {
  const parts: string[] = [];
  if (ask.count > 1) parts.push(plural(ask.count, "session"));
  if (ask.clusterSize > 1) parts.push(plural(ask.clusterSize, "kernel"));
  return parts.length ? ` (${parts.join(" × ")} × ${show(slot, perKernel)})` : "";
}

/** Errors (hard limits: the server refuses) and warnings (the session waits) of the resources
 * asked, for the slots that passed the basic rules (`ok`). */
export function resourceRules(
  ask: Ask,
  view: ResourceView,
  ok: { cpu: boolean; mem: boolean },
): { errors: Record<string, string>; warnings: Record<string, string> } {
  const errors: Record<string, string> = {};
  const warnings: Record<string, string> = {};
  const size = Math.max(1, ask.clusterSize);
  const count = Math.max(1, ask.count);
  const asked: { slot: string; perKernel: number | null; ok: boolean }[] = [
    { slot: "cpu", perKernel: ask.cpu, ok: ok.cpu },
    { slot: "mem", perKernel: ask.mem, ok: ok.mem },
  ];
  if (ask.accelerator && ask.accelerator.amount > 0) {
    asked.push({ slot: ask.accelerator.slot, perKernel: ask.accelerator.amount, ok: true });
  }
  for (const { slot, perKernel, ok: passed } of asked) {
    if (perKernel === null || !passed) continue;
    const field = SLOT_FIELD[slot] ?? `resources.${slot}`;
    const accelerator = !(slot in SLOT_FIELD);
    const perSession = perKernel * size;
    const total = perSession * count;
    const max = view.maxPerContainer[slot];
    if (accelerator && (max === undefined || max <= 0) && view.agents.length > 0) {
      errors[field] = `no agent of this resource group has ${slotPlugin(slot)} devices (it could never start)`;
      continue;
    }
    if (max !== undefined && perKernel > max) {
      errors[field] = `exceeds the largest agent's capacity (${show(slot, max)})`;
      continue;
    }
    if (accelerator && max !== undefined && perSession > max) {
      // The server refuses it at the slot: the kernels of a cluster share one agent's devices.
      errors[field] =
        `a single-node cluster of ${size} needs ${show(slot, perSession)} on one agent; ` +
        `the largest has ${show(slot, max)}`;
      continue;
    }
    if (max !== undefined && perSession > max && !errors.cluster_size) {
      errors.cluster_size =
        `a single-node cluster of ${size} needs ${show(slot, perSession)} on one agent; ` +
        `the largest has ${show(slot, max)}`;
    }
    const broken = (view.totals[slot] ?? []).filter((t) => total > t.limit);
    if (broken.length) {
      errors[field] = broken
        .map(
          (t) =>
            `${t.scope} policy${t.name ? ` '${t.name}'` : ""} allows ${show(slot, t.limit)} in total; ` +
            `this asks ${show(slot, total)}${times(ask, slot, perKernel)}`,
        )
        .join("; ");
      continue;
    }
    // A group's "remaining" shares add up what one kernel could get on each agent: no total.
    const left = isShares(slot) && view.remaining[slot]?.scope === "group" ? undefined : view.remaining[slot];
    if (left && total > left.amount) {
      warnings[field] =
        `more than is remaining now (${show(slot, left.amount)} under ${scopeName(left.scope, left.name)}): ` +
        "the session will wait in the queue";
    } else if (view.largestFree[slot] !== undefined && perSession > view.largestFree[slot]) {
      warnings[field] =
        `more than any agent has free now (${show(slot, view.largestFree[slot])}): ` +
        "the session will wait in the queue";
    }
  }
  if (ask.agent) {
    const agent = view.agents.find((a) => a.id === ask.agent);
    if (!agent) {
      warnings.agent = `agent ${ask.agent} is not available in this resource group now: the session will wait for it`;
    } else {
      const short = asked
        .filter((a) => a.perKernel !== null && a.ok)
        .filter((a) => a.perKernel! * size > Number(agent.free[a.slot] ?? (a.slot in SLOT_FIELD ? Infinity : 0)))
        .map((a) => a.slot);
      if (short.length) {
        warnings.agent =
          `${agent.id} has ${short.map((s) => show(s, Number(agent.free[s] ?? 0))).join(" and ")} free now: ` +
          "the session will wait in the queue for it";
      }
    }
  }
  for (const c of view.concurrency) {
    if (c.current + count > c.max) {
      warnings.count =
        `${scopeName(c.scope, c.name)} allows ${plural(c.max, "session")} at once; there are ` +
        `${c.current}: ${c.current >= c.max ? "these wait" : "some wait"} in the queue`;
      break;
    }
  }
  return { errors, warnings };
}
