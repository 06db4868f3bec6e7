// Folder mounts of the launcher: the rows the user picks, the request's `mounts` list, and the
// mount path rules, the same as the server's (src/berth/domain/mounts.py), with its messages,
// checked live before it:
// - empty path -> /home/work/<folder name>; relative -> under /home/work/; absolute as is;
// - at most MOUNT_PATH_MAX characters of [A-Za-z0-9_/.-]; no "." or ".." component;
// - none at or under a system directory, nor exactly /, /home or /home/work;
// - no two mounts overlapping (one at or under another); a folder once; at most MAX_MOUNTS.
// My own dot-folders are mounted at /home/work/.NAME unless chosen explicitly or in the way of
// a chosen mount (then the server leaves them out, and so does autoMounts).
// Pure functions only; the step (StepData.tsx) and the confirm card show what they return.

/** One folder the user chose to mount (form state; kept in the URL and in recent history). */
export interface MountRow {
  /** The folder's id. */
  folder: string;
  /** As typed; "" = /home/work/<name>. */
  path: string;
  /** Mount read-only (forced when the folder is read-only for the user). */
  ro: boolean;
}

/** What the rules need to know of a folder (a subset of data/types.ts's Folder). */
export interface MountableFolder {
  id: string;
  name: string;
  status: string;
  permission: "rw" | "ro";
  my_permission: "rw" | "ro";
  auto_mount: boolean;
  is_owner: boolean;
  owner_kind: "user" | "project";
}

/** The `mounts` entries of SessionCreate. */
export interface MountBody {
  folder: string;
  path: string | null;
  mode: "ro" | null;
}

export const HOME = "/home/work";
export const MAX_MOUNTS = 32;
export const MOUNT_PATH_MAX = 255;
export const SYSTEM_PATHS = [
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/proc",
  "/root",
  "/run",
  "/sbin",
  "/sys",
  "/usr",
  "/var",
  "/opt/berth",
];
const RESERVED_EXACT = ["/", "/home", HOME];
const PATH_CHARS = /^[A-Za-z0-9_/.-]+$/;

/** A dot-folder of my own: mounted into every session at /home/work/.NAME without choosing it. */
export function isAutoMounted(f: MountableFolder): boolean {
  return f.auto_mount && f.is_owner && f.owner_kind === "user" && f.status !== "trashed";
}

/** The folder may be mounted read-write only when both its permission and mine allow it. */
export function forcedReadOnly(f: Pick<MountableFolder, "permission" | "my_permission">): boolean {
  return f.permission === "ro" || f.my_permission === "ro";
}

export function defaultMountPath(name: string): string {
  return `${HOME}/${name}`;
}

/** The path's problem, or null. Checks the text as typed (after trimming). */
export function mountPathError(path: string): string | null {
  const text = path.trim();
  if (!text) return null;
  if (text.length > MOUNT_PATH_MAX) return `must be at most ${MOUNT_PATH_MAX} characters`;
  if (!PATH_CHARS.test(text)) return "may contain only letters, digits and '_', '/', '.', '-'";
  if (text.split("/").some((p) => p === "." || p === "..")) {
    return "must not contain '.' or '..' as a path component";
  }
  const resolved = resolveMountPath(text, "x");
  if (RESERVED_EXACT.includes(resolved)) return `cannot mount over ${resolved}`;
  const system = SYSTEM_PATHS.find((s) => isAtOrUnder(resolved, s));
  if (system) return `cannot mount at or under the system directory ${system}`;
  return null;
}

/** Where the folder is mounted: "" -> /home/work/<name>; relative -> /home/work/<path>. */
export function resolveMountPath(path: string, name: string): string {
  const text = path.trim();
  if (!text) return defaultMountPath(name);
  const absolute = text.startsWith("/") ? text : `${HOME}/${text}`;
  return `/${absolute.split("/").filter((p) => p !== "").join("/")}`;
}

/** `path` equals `base` or lies under it. */
export function isAtOrUnder(path: string, base: string): boolean {
  if (base === "/") return true;
  return path === base || path.startsWith(`${base}/`);
}

export function overlaps(a: string, b: string): boolean {
  return isAtOrUnder(a, b) || isAtOrUnder(b, a);
}

/** The chosen rows' mount paths, null for a row that breaks a rule (or whose folder is not
 * known yet), and each row's problem. Overlaps are reported on the later row. */
function plan(rows: MountRow[], folders: MountableFolder[] | null) {
  const errors: Record<string, string> = {};
  const paths: (string | null)[] = [];
  if (rows.length > MAX_MOUNTS) {
    errors.mounts = `at most ${MAX_MOUNTS} folders can be mounted`;
    return { errors, paths };
  }
  const byId = new Map((folders ?? []).map((f) => [f.id, f]));
  const seen = new Map<string, number>();
  const taken: { path: string; name: string }[] = [];
  rows.forEach((row, i) => {
    paths.push(null);
    const folder = byId.get(row.folder);
    if (folders && (!folder || folder.status === "trashed")) {
      errors[`mounts.${i}.folder`] = "this folder is no longer available (deleted or not shared any more)";
      return;
    }
    const name = folder?.name ?? row.folder;
    if (seen.has(row.folder)) {
      errors[`mounts.${i}.folder`] = `folder '${name}' is already mounted (mounts[${seen.get(row.folder)}])`;
      return;
    }
    seen.set(row.folder, i);
    const problem = mountPathError(row.path);
    if (problem) {
      errors[`mounts.${i}.path`] = problem;
      return;
    }
    if (!folder && !row.path.trim()) return; // its default path is not known yet
    const path = resolveMountPath(row.path, name);
    const clash = taken.find((t) => overlaps(t.path, path));
    if (clash) {
      errors[`mounts.${i}.path`] = `${path} overlaps the mount of '${clash.name}' at ${clash.path}`;
      return;
    }
    taken.push({ path, name });
    paths[i] = path;
  });
  return { errors, paths };
}

/** Field key -> message, keys "mounts" (the count), "mounts.<i>.folder", "mounts.<i>.path".
 * `folders` null: not loaded yet (folder checks wait for it). */
export function mountErrors(rows: MountRow[], folders: MountableFolder[] | null): Record<string, string> {
  return plan(rows, folders).errors;
}

/** The dot-folders mounted by themselves: mine, not chosen explicitly and not at or around a
 * chosen mount's path (the server leaves those out). */
export function autoMounts<F extends MountableFolder>(rows: MountRow[], folders: F[] | null): F[] {
  const paths = plan(rows, folders).paths.filter((p): p is string => p !== null);
  const chosen = new Set(rows.map((r) => r.folder));
  return (folders ?? []).filter(
    (f) => isAutoMounted(f) && !chosen.has(f.id) && !paths.some((p) => overlaps(p, defaultMountPath(f.name))),
  );
}

/** The request's `mounts`: path as typed (trimmed) or null, mode "ro" or null. */
export function mountsBody(rows: MountRow[]): MountBody[] {
  return rows.map((r) => ({ folder: r.folder, path: r.path.trim() || null, mode: r.ro ? "ro" : null }));
}

/** A stored request's `mounts` back into rows (recent history); unreadable entries are dropped. */
export function mountsFromParams(value: unknown): MountRow[] {
  if (!Array.isArray(value)) return [];
  const rows: MountRow[] = [];
  for (const item of value as Record<string, unknown>[]) {
    if (!item || typeof item.folder !== "string" || !item.folder) continue;
    rows.push({
      folder: item.folder,
      path: typeof item.path === "string" ? item.path : "",
      ro: item.mode === "ro",
    });
  }
  return rows;
}

/** Rows as kept in the URL (untrusted: a hand-edited link), dropping what is not a row. */
export function mountRows(value: unknown): MountRow[] {
  if (!Array.isArray(value)) return [];
  return (value as Record<string, unknown>[])
    .filter((r) => r && typeof r.folder === "string" && r.folder)
    .map((r) => ({ folder: r.folder as string, path: typeof r.path === "string" ? r.path : "", ro: r.ro === true }));
}

/** A folder chosen in the table becomes a row (read-only when it must be). */
export function newRow(f: MountableFolder): MountRow {
  return { folder: f.id, path: "", ro: forcedReadOnly(f) };
}

/** Rows that name a folder by name (a launch made with the CLI) get its id; null: no change. */
export function resolveFolderRefs(rows: MountRow[], folders: MountableFolder[]): MountRow[] | null {
  const ids = new Set(folders.map((f) => f.id));
  let changed = false;
  const next = rows.map((r) => {
    if (ids.has(r.folder)) return r;
    const named = folders.filter((f) => f.name === r.folder);
    if (named.length !== 1) return r;
    changed = true;
    return { ...r, folder: named[0].id };
  });
  return changed ? next : null;
}
