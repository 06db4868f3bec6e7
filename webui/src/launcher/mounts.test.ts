import { describe, expect, it } from "vitest";
import {
  autoMounts,
  forcedReadOnly,
  isAutoMounted,
  MAX_MOUNTS,
  MOUNT_PATH_MAX,
  mountErrors,
  mountRows,
  mountPathError,
  mountsBody,
  mountsFromParams,
  newRow,
  resolveFolderRefs,
  resolveMountPath,
  SYSTEM_PATHS,
  type MountableFolder,
  type MountRow,
} from "./mounts";

const folder = (name: string, patch: Partial<MountableFolder> = {}): MountableFolder => ({
  id: `id-${name}`,
  name,
  status: "ready",
  permission: "rw",
  my_permission: "rw",
  auto_mount: name.startsWith("."),
  is_owner: true,
  owner_kind: "user",
  ...patch,
});
const row = (name: string, path = "", ro = false): MountRow => ({ folder: `id-${name}`, path, ro });

describe("resolveMountPath", () => {
  it.each([
    ["", "data", "/home/work/data"],
    ["  ", "data", "/home/work/data"],
    ["inputs", "data", "/home/work/inputs"],
    ["a/b", "data", "/home/work/a/b"],
    ["/mnt/data", "data", "/mnt/data"],
    ["/mnt//data/", "data", "/mnt/data"],
  ])("%j for %s -> %s", (path, name, expected) => {
    expect(resolveMountPath(path, name)).toBe(expected);
  });
});

describe("mountPathError", () => {
  it("accepts empty, relative and absolute paths", () => {
    for (const p of ["", "data", "a/b-c_d.e", "/mnt/data", "/home/work/x", "/home/other", "/opt/data", "/library"]) {
      expect(mountPathError(p)).toBeNull();
    }
  });
  it.each(["da ta", "dätä", "a:b", "a*", "~/x", "a\\b"])("refuses the characters of %j", (p) => {
    expect(mountPathError(p)).toBe("may contain only letters, digits and '_', '/', '.', '-'");
  });
  it("refuses paths longer than the maximum", () => {
    expect(mountPathError(`/mnt/${"a".repeat(MOUNT_PATH_MAX - 5)}`)).toBeNull();
    expect(mountPathError(`/mnt/${"a".repeat(MOUNT_PATH_MAX - 4)}`)).toBe(`must be at most ${MOUNT_PATH_MAX} characters`);
  });
  it.each([".", "..", "a/../b", "./a", "/mnt/./x", "a/.."])("refuses the . or .. component in %j", (p) => {
    expect(mountPathError(p)).toBe("must not contain '.' or '..' as a path component");
  });
  it("allows dots inside a name", () => {
    expect(mountPathError(".cache")).toBeNull();
    expect(mountPathError("a..b")).toBeNull();
  });
  it.each([
    ["/", "/"],
    ["/home", "/home"],
    ["/home/work", "/home/work"],
    ["/home/work/", "/home/work"],
  ])("refuses exactly %s", (p, shown) => {
    expect(mountPathError(p)).toBe(`cannot mount over ${shown}`);
  });
  it("refuses every system path and what is under it", () => {
    for (const s of SYSTEM_PATHS) {
      expect(mountPathError(s)).toBe(`cannot mount at or under the system directory ${s}`);
      expect(mountPathError(`${s}/x`)).toBe(`cannot mount at or under the system directory ${s}`);
    }
    expect(mountPathError("/opt/berth2")).toBeNull(); // a sibling, not under
    expect(mountPathError("/usrlocal")).toBeNull();
  });
});

describe("mountErrors", () => {
  const folders = [folder("data"), folder("models"), folder("inputs"), folder(".cfg")];
  it("passes distinct paths", () => {
    expect(mountErrors([row("data"), row("models", "m"), row("inputs", "/mnt/in")], folders)).toEqual({});
  });
  it("reports a broken path on its row", () => {
    expect(mountErrors([row("data"), row("models", "/etc/x")], folders)).toEqual({
      "mounts.1.path": "cannot mount at or under the system directory /etc",
    });
  });
  it("reports the same path and nested paths on the later row", () => {
    expect(mountErrors([row("data"), row("models", "data")], folders)).toEqual({
      "mounts.1.path": "/home/work/data overlaps the mount of 'data' at /home/work/data",
    });
    expect(mountErrors([row("data"), row("models", "data/sub")], folders)).toEqual({
      "mounts.1.path": "/home/work/data/sub overlaps the mount of 'data' at /home/work/data",
    });
    expect(mountErrors([row("data", "/mnt/a/b"), row("models", "/mnt/a")], folders)).toEqual({
      "mounts.1.path": "/mnt/a overlaps the mount of 'data' at /mnt/a/b",
    });
    // a shared prefix is no overlap
    expect(mountErrors([row("data", "/mnt/ab"), row("models", "/mnt/a")], folders)).toEqual({});
  });
  it("leaves out a dot-folder in the way of a chosen mount, or chosen explicitly", () => {
    expect(autoMounts([], folders).map((f) => f.name)).toEqual([".cfg"]);
    expect(mountErrors([row("data", ".cfg/x")], folders)).toEqual({});
    expect(autoMounts([row("data", ".cfg/x")], folders)).toEqual([]);
    expect(autoMounts([row("data", "/home/work")], folders).map((f) => f.name)).toEqual([".cfg"]); // refused anyway
    expect(mountErrors([row(".cfg", "/mnt/cfg")], folders)).toEqual({});
    expect(autoMounts([row(".cfg", "/mnt/cfg")], folders)).toEqual([]);
  });
  it("mounts a folder once", () => {
    expect(mountErrors([row("data"), row("data", "/mnt/d")], folders)).toEqual({
      "mounts.1.folder": "folder 'data' is already mounted (mounts[0])",
    });
  });
  it("refuses more than the maximum", () => {
    const many = Array.from({ length: MAX_MOUNTS + 1 }, (_, i) => folder(`f${i}`));
    const rows = many.map((f) => row(f.name));
    expect(mountErrors(rows, many)).toEqual({ mounts: `at most ${MAX_MOUNTS} folders can be mounted` });
    expect(mountErrors(rows.slice(0, MAX_MOUNTS), many)).toEqual({});
  });
  it("names a folder that is gone, once the folders are known", () => {
    const gone = { folder: "id-gone", path: "", ro: false };
    expect(mountErrors([gone], null)).toEqual({});
    expect(mountErrors([gone], folders)).toEqual({
      "mounts.0.folder": "this folder is no longer available (deleted or not shared any more)",
    });
    expect(mountErrors([row("data")], [folder("data", { status: "trashed" })])).toHaveProperty("mounts.0.folder");
  });
  it("checks typed paths while the folders load", () => {
    expect(mountErrors([row("data", "/proc")], null)).toEqual({
      "mounts.0.path": "cannot mount at or under the system directory /proc",
    });
  });
});

describe("folders", () => {
  it("auto-mounts only my own dot-folders", () => {
    expect(isAutoMounted(folder(".cfg"))).toBe(true);
    expect(isAutoMounted(folder(".cfg", { is_owner: false, shared_with_me: true } as Partial<MountableFolder>))).toBe(false);
    expect(isAutoMounted(folder(".cfg", { owner_kind: "project" }))).toBe(false);
    expect(isAutoMounted(folder("cfg"))).toBe(false);
  });
  it("forces read-only by the folder's permission or mine", () => {
    expect(forcedReadOnly(folder("a"))).toBe(false);
    expect(forcedReadOnly(folder("a", { permission: "ro" }))).toBe(true);
    expect(forcedReadOnly(folder("a", { my_permission: "ro" }))).toBe(true);
    expect(newRow(folder("a", { my_permission: "ro" }))).toEqual({ folder: "id-a", path: "", ro: true });
  });
});

describe("request", () => {
  it("sends the path as typed or null and mode ro or null", () => {
    expect(mountsBody([row("data"), row("models", " /mnt/m ", true)])).toEqual([
      { folder: "id-data", path: null, mode: null },
      { folder: "id-models", path: "/mnt/m", mode: "ro" },
    ]);
  });
  it("reads stored mounts back, dropping what it cannot read", () => {
    expect(
      mountsFromParams([
        { folder: "id-data", path: null, mode: null },
        { folder: "id-models", path: "m", mode: "ro" },
        { folder: "", path: "x" },
        null,
        "junk",
      ]),
    ).toEqual([row("data"), row("models", "m", true)]);
    expect(mountsFromParams(undefined)).toEqual([]);
  });
  it("turns folder names (CLI launches) into ids", () => {
    const folders = [folder("data"), folder("models")];
    expect(resolveFolderRefs([{ folder: "data", path: "", ro: false }, row("models")], folders)).toEqual([
      row("data"),
      row("models"),
    ]);
    expect(resolveFolderRefs([row("data")], folders)).toBeNull();
  });
});

describe("mountRows", () => {
  it("keeps rows and drops junk from a hand-edited link", () => {
    expect(mountRows([row("data", "x", true), { folder: 3 }, null, { folder: "id-m", ro: "yes" }])).toEqual([
      row("data", "x", true),
      row("m"),
    ]);
    expect(mountRows("x")).toEqual([]);
  });
});
