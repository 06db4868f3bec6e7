// The launcher's form: its shape, defaults, URL encoding, the SessionCreate body it sends, and
// the client-side rules (the same as src/berth/domain/rules.py, checked before the server).
import { formatCpu } from "../format";
import {
  cpuLimitError,
  environError,
  envVariableError,
  memLimitError,
  sessionNameError,
  startsAtError,
  startupCommandError,
  timeoutError,
} from "../rules";
import { mountErrors, mountRows, mountsBody, mountsFromParams, type MountableFolder, type MountBody, type MountRow } from "./mounts";
import { acceleratorAsk, acceleratorOf, CUSTOM, resourceRules, resourceView, type ResourceCheck } from "./resources";

export type TimeUnit = "s" | "m" | "h" | "d" | "w";
export type SizeUnit = "m" | "g";

export interface EnvRow {
  name: string;
  value: string;
}

export interface LaunchForm {
  type: "interactive" | "batch";
  name: string;
  startupCommand: string;
  /** ISO 8601 with timezone, or "". */
  startsAt: string;
  timeoutValue: number | null;
  timeoutUnit: TimeUnit;
  assignOwner: boolean;
  ownerEmail: string;
  /** The image picked from the catalog (its ref). */
  image: string;
  /** A manually typed image reference; when set it wins over `image`. */
  manualImage: string;
  env: EnvRow[];
  cpu: number | null;
  memValue: number | null;
  memUnit: SizeUnit;
  /** true: shared memory is "auto" (64m). */
  shmemAuto: boolean;
  shmemValue: number | null;
  shmemUnit: SizeUnit;
  /** The accelerator slot ("cuda.shares", "mock-gpu.device"), or "" for none chosen. */
  accelerator: string;
  /** Per kernel, in the slot's unit; 0: no accelerator. */
  acceleratorAmount: number | null;
  count: number | null;
  threadsAuto: boolean;
  omp: number | null;
  openblas: number | null;
  ports: string;
  /** Folders to mount, in the order chosen (the request's `mounts`). */
  mounts: MountRow[];
  /** The project (name) the session belongs to; "": the owner's default. */
  project: string;
  resourceGroup: string;
  /** The preset's id, or "custom" (set when a resource value is edited). */
  preset: string;
  /** An agent id, or "" for any (auto). */
  agent: string;
  clusterMode: "single-node" | "multi-node";
  clusterSize: number | null;
}

export const DEFAULT_FORM: LaunchForm = {
  type: "interactive",
  name: "",
  startupCommand: "",
  startsAt: "",
  timeoutValue: null,
  timeoutUnit: "h",
  assignOwner: false,
  ownerEmail: "",
  image: "",
  manualImage: "",
  env: [],
  cpu: 1,
  memValue: 1,
  memUnit: "g",
  shmemAuto: true,
  shmemValue: 64,
  shmemUnit: "m",
  accelerator: "",
  acceleratorAmount: 0,
  count: 1,
  threadsAuto: true,
  omp: 1,
  openblas: 1,
  ports: "",
  mounts: [],
  project: "",
  resourceGroup: "default",
  preset: CUSTOM,
  agent: "",
  clusterMode: "single-node",
  clusterSize: 1,
};

export const STEP_KEYS = ["type", "environment", "data", "network", "confirm"] as const;
export const STEP_TITLES = [
  "Session type",
  "Environment & resources",
  "Data & storage",
  "Network",
  "Confirm & launch",
];

// ---- URL state -------------------------------------------------------------------------------
function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  bytes.forEach((b) => (bin += String.fromCharCode(b)));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** Only the fields that differ from the defaults go into the URL. */
export function encodeForm(form: LaunchForm): string {
  const diff: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(form)) {
    if (JSON.stringify(value) !== JSON.stringify(DEFAULT_FORM[key as keyof LaunchForm])) {
      diff[key] = value;
    }
  }
  return Object.keys(diff).length ? toBase64Url(JSON.stringify(diff)) : "";
}

export function decodeForm(text: string | null): LaunchForm {
  if (!text) return DEFAULT_FORM;
  try {
    const raw = JSON.parse(fromBase64Url(text)) as Record<string, unknown>;
    const form: Record<string, unknown> = { ...DEFAULT_FORM };
    for (const key of Object.keys(DEFAULT_FORM)) {
      if (key in raw) form[key] = raw[key];
    }
    if (!Array.isArray(form.env)) form.env = [];
    form.mounts = mountRows(form.mounts);
    return form as unknown as LaunchForm;
  } catch {
    return DEFAULT_FORM;
  }
}

// ---- sizes -----------------------------------------------------------------------------------
const MIB = 2 ** 20;
const GIB = 2 ** 30;

export function sizeBytes(value: number | null, unit: SizeUnit): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  return Math.round(value * (unit === "g" ? GIB : MIB));
}

/** Bytes -> the size text the server parses ("1g", "1536m"). */
export function sizeText(value: number | null, unit: SizeUnit): string | null {
  const bytes = sizeBytes(value, unit);
  if (bytes === null) return null;
  if (bytes % GIB === 0) return `${bytes / GIB}g`;
  if (bytes % MIB === 0) return `${bytes / MIB}m`;
  return String(bytes);
}

/** Bytes -> value and unit for the size inputs. */
export function splitSize(bytes: number): { value: number; unit: SizeUnit } {
  if (bytes >= GIB && bytes % (GIB / 4) === 0) return { value: bytes / GIB, unit: "g" };
  return { value: Math.round((bytes / MIB) * 100) / 100, unit: "m" };
}

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$/i;
const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 2 ** 10, m: MIB, g: GIB, t: 2 ** 40 };

export function parseSize(text: string | number | null | undefined): number | null {
  if (text === null || text === undefined) return null;
  if (typeof text === "number") return text;
  const m = SIZE_RE.exec(text);
  if (!m) return null;
  return Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? "").toLowerCase().slice(0, 1)]);
}

export const AUTO_SHMEM = 64 * MIB;

export function shmemBytes(form: LaunchForm): number | null {
  return form.shmemAuto ? AUTO_SHMEM : sizeBytes(form.shmemValue, form.shmemUnit);
}

// ---- the request body ------------------------------------------------------------------------
export interface SessionCreateBody {
  type: "interactive" | "batch";
  name?: string;
  image: string;
  /** Other keys: accelerator slots by name, with a number. */
  resources: { cpu?: number; mem?: string; shmem?: string; [slot: string]: number | string | undefined };
  environ: Record<string, string>;
  threads?: number;
  count: number;
  startup_command?: string;
  starts_at?: string;
  timeout?: string;
  owner_email?: string;
  preopen_ports: number[];
  mounts?: MountBody[];
  project?: string;
  resource_group: string;
  agent?: string;
  cluster_mode: "single-node" | "multi-node";
  cluster_size: number;
}

export function imageRef(form: LaunchForm): string {
  return form.manualImage.trim() || form.image;
}

export function toBody(form: LaunchForm): SessionCreateBody {
  const environ: Record<string, string> = {};
  for (const row of form.env) {
    if (row.name.trim() || row.value) environ[row.name.trim()] = row.value;
  }
  const body: SessionCreateBody = {
    type: form.type,
    image: imageRef(form),
    resources: {},
    environ,
    count: form.count ?? 1,
    preopen_ports: parsePorts(form.ports).ports,
    resource_group: form.resourceGroup || "default",
    cluster_mode: form.clusterMode,
    cluster_size: form.clusterSize ?? 1,
  };
  if (form.project) body.project = form.project;
  if (form.agent) body.agent = form.agent;
  if (form.name.trim()) body.name = form.name.trim();
  if (form.cpu !== null) body.resources.cpu = form.cpu;
  const mem = sizeText(form.memValue, form.memUnit);
  if (mem) body.resources.mem = mem;
  if (!form.shmemAuto) {
    const shmem = sizeText(form.shmemValue, form.shmemUnit);
    if (shmem) body.resources.shmem = shmem;
  }
  if (form.accelerator && form.acceleratorAmount) body.resources[form.accelerator] = form.acceleratorAmount;
  if (!form.threadsAuto && form.omp !== null && form.openblas !== null) {
    if (form.omp === form.openblas) body.threads = form.omp;
    else {
      environ.OMP_NUM_THREADS ??= String(form.omp);
      environ.OPENBLAS_NUM_THREADS ??= String(form.openblas);
    }
  }
  if (form.type === "batch") {
    body.startup_command = form.startupCommand;
    if (form.startsAt) body.starts_at = form.startsAt;
    if (form.timeoutValue !== null) body.timeout = `${form.timeoutValue}${form.timeoutUnit}`;
  }
  if (form.assignOwner && form.ownerEmail.trim()) body.owner_email = form.ownerEmail.trim();
  if (form.mounts.length) body.mounts = mountsBody(form.mounts);
  return body;
}

/** A past launch's SessionCreate body back into the form (recent history). */
export function fromParams(params: Record<string, unknown>): LaunchForm {
  const p = params as Partial<SessionCreateBody> & { resources?: Record<string, unknown> };
  const form: LaunchForm = { ...DEFAULT_FORM, env: [] };
  form.type = p.type === "batch" ? "batch" : "interactive";
  form.name = typeof p.name === "string" ? p.name : "";
  form.image = typeof p.image === "string" ? p.image : "";
  const res = p.resources ?? {};
  if (typeof res.cpu === "number") form.cpu = res.cpu;
  const mem = parseSize(res.mem as string | number | undefined);
  if (mem) {
    const s = splitSize(mem);
    form.memValue = s.value;
    form.memUnit = s.unit;
  }
  const shmem = parseSize(res.shmem as string | number | undefined);
  if (shmem) {
    const s = splitSize(shmem);
    form.shmemAuto = false;
    form.shmemValue = s.value;
    form.shmemUnit = s.unit;
  }
  const accelerator = acceleratorOf(res);
  if (accelerator) {
    form.accelerator = accelerator.slot;
    form.acceleratorAmount = accelerator.amount;
  }
  const environ = { ...((p.environ as Record<string, string> | undefined) ?? {}) };
  const omp = environ.OMP_NUM_THREADS;
  const openblas = environ.OPENBLAS_NUM_THREADS;
  if (typeof p.threads === "number") {
    form.threadsAuto = false;
    form.omp = p.threads;
    form.openblas = p.threads;
  } else if (omp && openblas && /^\d+$/.test(omp) && /^\d+$/.test(openblas)) {
    form.threadsAuto = false;
    form.omp = Number(omp);
    form.openblas = Number(openblas);
    delete environ.OMP_NUM_THREADS;
    delete environ.OPENBLAS_NUM_THREADS;
  }
  form.env = Object.entries(environ).map(([name, value]) => ({ name, value }));
  form.count = typeof p.count === "number" ? p.count : 1;
  form.startupCommand = p.startup_command ?? "";
  form.startsAt = p.starts_at ?? "";
  const timeout = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(p.timeout ?? "");
  if (timeout) {
    form.timeoutValue = Number(timeout[1]);
    form.timeoutUnit = timeout[2] as TimeUnit;
  }
  if (p.owner_email) {
    form.assignOwner = true;
    form.ownerEmail = p.owner_email;
  }
  form.ports = (p.preopen_ports ?? []).join(", ");
  form.mounts = mountsFromParams(p.mounts);
  if (typeof p.project === "string") form.project = p.project;
  if (typeof p.resource_group === "string") form.resourceGroup = p.resource_group;
  if (typeof p.agent === "string") form.agent = p.agent;
  if (p.cluster_mode === "multi-node") form.clusterMode = "multi-node";
  if (typeof p.cluster_size === "number") form.clusterSize = p.cluster_size;
  return form;
}

/** "train" -> "train-x3kq" (recent history: a fresh name for a relaunch). */
export function suffixedName(name: string): string {
  if (!name) return "";
  const letters = "abcdefghijklmnopqrstuvwxyz";
  let suffix = "";
  for (let i = 0; i < 4; i += 1) suffix += letters[Math.floor(Math.random() * letters.length)];
  return `${name.slice(0, 64 - 5)}-${suffix}`;
}

// ---- rules -----------------------------------------------------------------------------------
export const CLUSTER_SIZE_MAX = 64;
export const PORT_MIN = 1024;
export const PORT_MAX = 65535;
export const MAX_PREOPEN_PORTS = 10;
export const RESERVED_PORTS = new Set([2200, 7681, 8888, 6006]);
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EMAIL_RE = /^[^@\s]+@[^@\s]+$/;

/** Preopen ports as the server parses them; `error` names the first broken rule. */
export function parsePorts(
  text: string,
  appPorts: ReadonlySet<number> = new Set(),
): { ports: number[]; error: string | null } {
  const ports: number[] = [];
  for (const token of text.trim().split(/[,\s]+/)) {
    if (!token) continue;
    if (token.includes(":")) {
      const [lo, hi] = [token.slice(0, token.indexOf(":")), token.slice(token.indexOf(":") + 1)];
      if (!/^\d+$/.test(lo) || !/^\d+$/.test(hi) || Number(lo) > Number(hi)) {
        return { ports, error: `'${token}' is not a range a:b with a <= b` };
      }
      if (Number(lo) < PORT_MIN || Number(hi) > PORT_MAX) {
        return { ports, error: `range ${token} is outside ${PORT_MIN}-${PORT_MAX}` };
      }
      if (Number(hi) - Number(lo) + 1 + ports.length > MAX_PREOPEN_PORTS) {
        return { ports, error: `at most ${MAX_PREOPEN_PORTS} ports may be opened` };
      }
      for (let p = Number(lo); p <= Number(hi); p += 1) ports.push(p);
    } else if (/^\d+$/.test(token)) {
      ports.push(Number(token));
    } else {
      return { ports, error: `'${token}' is not a port number` };
    }
  }
  if (ports.length > MAX_PREOPEN_PORTS) {
    return { ports, error: `at most ${MAX_PREOPEN_PORTS} ports may be opened` };
  }
  const seen = new Set<number>();
  for (const port of ports) {
    if (port < PORT_MIN || port > PORT_MAX) {
      return { ports, error: `port ${port} is outside ${PORT_MIN}-${PORT_MAX}` };
    }
    if (seen.has(port)) return { ports, error: `port ${port} is given twice` };
    if (RESERVED_PORTS.has(port) || appPorts.has(port)) {
      return { ports, error: `port ${port} is reserved for an app of the environment` };
    }
    seen.add(port);
  }
  return { ports, error: null };
}

export interface ImageInfo {
  ref: string;
  display_name: string;
  version: string;
  apps: { name: string; container_port: number }[];
  min_slots: Record<string, string>;
  /** berth.* labels; a customized image has berth.customized-name (commits/commit.ts). */
  labels?: Record<string, string>;
}

export interface AgentInfo {
  id: string;
  status: string;
  resource_group: string;
  capacity: Record<string, string>;
  free: Record<string, string>;
  occupied?: Record<string, string>;
  schedulable?: boolean;
  last_heartbeat?: string;
}

export interface RuleContext {
  images: ImageInfo[];
  agents: AgentInfo[];
  isAdmin: boolean;
  /** The folders the user may mount; null while not loaded (folder checks wait). */
  folders?: MountableFolder[] | null;
  /** GET /api/resource-check for the form's group and project; null while not known (the
   * agents list stands in for the largest agent). */
  check?: ResourceCheck | null;
}

/** Field key -> message. Keys: name, startup_command, starts_at, timeout, owner_email, image,
 * environ.<i>.name, environ.<i>.value, resources.cpu, resources.mem, resources.shmem,
 * resources.<accelerator slot>, count,
 * threads.omp, threads.openblas, preopen_ports, mounts, mounts.<i>.folder, mounts.<i>.path,
 * project, resource_group, agent, cluster_mode, cluster_size. */
export type Messages = Record<string, string>;

export function findImage(images: ImageInfo[], ref: string): ImageInfo | undefined {
  return images.find((i) => i.ref === ref);
}

function formatMiB(bytes: number): string {
  if (bytes % GIB === 0) return `${bytes / GIB}g`;
  return `${Math.round(bytes / MIB)}m`;
}

export function validate(form: LaunchForm, ctx: RuleContext): { errors: Messages; warnings: Messages } {
  const errors: Messages = {};
  const warnings: Messages = {};
  const name = form.name.trim();
  const count = form.count ?? 1;
  if (form.name !== "" && (form.name !== name || /\s/.test(form.name))) {
    errors.name = "must not contain spaces";
  } else if (name) {
    const err = sessionNameError(name) ?? (count > 1 ? sessionNameError(`${name}-${count}`) : null);
    if (err) errors.name = count > 1 && !sessionNameError(name) ? `with the suffix -${count}: ${err}` : err;
  }
  if (form.type === "batch") {
    if (!form.startupCommand.trim()) errors.startup_command = "a batch session needs a startup command";
    else if (startupCommandError(form.startupCommand)) {
      errors.startup_command = startupCommandError(form.startupCommand)!;
    }
    const timeoutProblem = form.timeoutValue !== null ? timeoutError(form.timeoutValue, form.timeoutUnit) : null;
    if (timeoutProblem) errors.timeout = timeoutProblem;
    const startsProblem = form.startsAt ? startsAtError(form.startsAt, Date.now()) : null;
    if (startsProblem) errors.starts_at = startsProblem;
    else if (form.startsAt && Date.parse(form.startsAt) < Date.now()) {
      warnings.starts_at = "this time has passed: the session starts as soon as it can";
    }
  }
  if (ctx.isAdmin && form.assignOwner) {
    if (!form.ownerEmail.trim()) errors.owner_email = "enter the owner's email or switch this off";
    else if (!EMAIL_RE.test(form.ownerEmail.trim())) errors.owner_email = "is not an email address";
  }
  const ref = imageRef(form);
  const image = findImage(ctx.images, ref);
  if (!ref) errors.image = "choose an environment or type an image name";
  else if (ctx.images.length && !image) errors.image = `unknown image '${ref}'; see the image list`;

  const seen = new Map<string, number>();
  form.env.forEach((row, i) => {
    const key = row.name.trim();
    if (!key) errors[`environ.${i}.name`] = "a variable name is required";
    else if (!ENV_NAME_RE.test(key)) {
      errors[`environ.${i}.name`] =
        "variable name must start with a letter or '_' and contain only letters, digits and '_'";
    } else if (seen.has(key)) errors[`environ.${i}.name`] = "variable names must not repeat";
    else if (envVariableError(key, "").name) errors[`environ.${i}.name`] = envVariableError(key, "").name!;
    else seen.set(key, i);
    if (row.value === "") errors[`environ.${i}.value`] = "a value is required";
    else if (envVariableError("", row.value).value) {
      errors[`environ.${i}.value`] = envVariableError("", row.value).value!;
    }
  });
  const environProblem = environError(form.env.map((r) => ({ name: r.name.trim(), value: r.value })));
  if (environProblem) errors.environ = environProblem;

  const minCpu = Number(image?.min_slots.cpu ?? 0);
  const minMem = Number(image?.min_slots.mem ?? 0);
  const cpu = form.cpu;
  if (cpu === null) errors["resources.cpu"] = "enter the number of CPU cores";
  else if (!(cpu > 0)) errors["resources.cpu"] = "must be greater than zero";
  else if (cpuLimitError(cpu)) errors["resources.cpu"] = cpuLimitError(cpu)!;
  else if (Math.abs(Math.round(cpu * 100) - cpu * 100) > 1e-6) {
    errors["resources.cpu"] = "must be a multiple of 0.01 cores";
  } else if (cpu < minCpu) errors["resources.cpu"] = `the image needs at least ${formatCpu(String(minCpu))}`;
  const mem = sizeBytes(form.memValue, form.memUnit);
  if (mem === null) errors["resources.mem"] = "enter the memory size";
  else if (mem < 64 * MIB) errors["resources.mem"] = "must be at least 64m";
  else if (memLimitError(mem)) errors["resources.mem"] = memLimitError(mem)!;
  else if (mem < minMem) errors["resources.mem"] = `the image needs at least ${formatMiB(minMem)}`;
  const size = form.clusterSize;
  if (size === null || !Number.isInteger(size) || size < 1 || size > CLUSTER_SIZE_MAX) {
    errors.cluster_size = `must be a whole number from 1 to ${CLUSTER_SIZE_MAX}`;
  } else if (form.clusterMode !== "single-node") {
    errors.cluster_mode = "only single-node clusters are available for now";
  }
  if (!form.resourceGroup) errors.resource_group = "choose a resource group";
  const view = resourceView(ctx.check ?? null, ctx.agents, form.resourceGroup || "default");
  const accelerator = acceleratorAsk(form.accelerator, form.acceleratorAmount, {
    clusterSize: errors.cluster_size ? 1 : size ?? 1,
    check: ctx.check ?? null,
    group: form.resourceGroup || "default",
  });
  if (accelerator.error) errors[`resources.${form.accelerator}`] = accelerator.error;
  const rules = resourceRules(
    {
      cpu,
      mem,
      count: Math.max(1, count || 1),
      clusterSize: errors.cluster_size ? 1 : size ?? 1,
      agent: form.agent,
      accelerator: accelerator.ask,
    },
    view,
    { cpu: !errors["resources.cpu"], mem: !errors["resources.mem"] },
  );
  for (const [k, m] of Object.entries(rules.errors)) errors[k] ??= m;
  for (const [k, m] of Object.entries(rules.warnings)) if (!errors[k]) warnings[k] ??= m;
  const shmem = shmemBytes(form);
  if (shmem === null) errors["resources.shmem"] = "enter the shared memory size or choose auto";
  else if (!(shmem > 0)) errors["resources.shmem"] = "must be greater than zero";
  else if (mem !== null && shmem > mem) errors["resources.shmem"] = "must not be larger than memory";
  else if (mem !== null && mem < 2 * shmem) {
    warnings["resources.shmem"] =
      "memory is less than twice the shared memory: little is left for the programs themselves";
  }
  if (form.count === null || !Number.isInteger(form.count) || form.count < 1 || form.count > 20) {
    errors.count = "must be a whole number from 1 to 20";
  }
  if (!form.threadsAuto) {
    for (const [key, value] of [
      ["threads.omp", form.omp],
      ["threads.openblas", form.openblas],
    ] as const) {
      if (value === null || !Number.isInteger(value) || value < 1 || value > 1000) {
        errors[key] = "must be between 1 and 1000";
      }
    }
  }
  const appPorts = new Set((image?.apps ?? []).map((a) => a.container_port));
  const ports = parsePorts(form.ports, appPorts);
  if (ports.error) errors.preopen_ports = ports.error;
  Object.assign(errors, mountErrors(form.mounts, ctx.folders ?? null));
  return { errors, warnings };
}

/** The step (0..3) that holds a field key; -1 for an error of the request as a whole. */
export function stepOf(field: string): number {
  if (field === "general") return -1; // shown above the cards, not in one of them
  if (field === "preopen_ports") return 3;
  if (field === "mounts" || field.startsWith("mounts.")) return 2;
  if (
    field === "image" ||
    field.startsWith("environ") ||
    field.startsWith("resources") ||
    field.startsWith("threads") ||
    field === "count" ||
    field === "agent" ||
    field === "resource_group" ||
    field.startsWith("cluster_")
  ) {
    return 1;
  }
  return 0;
}

/** A server field path ("environ.FOO", "threads") -> the form's field key. */
export function formField(serverField: string, form: LaunchForm): string {
  if (serverField.startsWith("environ.")) {
    const name = serverField.slice("environ.".length);
    const i = form.env.findIndex((r) => r.name.trim() === name);
    return i >= 0 ? `environ.${i}.name` : "environ";
  }
  if (serverField === "threads") return "threads.omp";
  // "mounts[1].path" (a rule's message) or "mounts.1.path" (a 422's loc); "mounts.1" -> its path
  const mount = /^mounts(?:\[(\d+)\]|\.(\d+))(?:\.(\w+))?$/.exec(serverField);
  if (mount) return `mounts.${mount[1] ?? mount[2]}.${mount[3] ?? "path"}`;
  if (serverField === "resources") return "resources.cpu";
  return serverField || "general";
}
