import { describe, expect, it } from "vitest";
import {
  DEFAULT_FORM,
  decodeForm,
  encodeForm,
  formField,
  fromParams,
  parsePorts,
  stepOf,
  suffixedName,
  toBody,
  validate,
  type ImageInfo,
  type LaunchForm,
} from "./form";

const IMAGE: ImageInfo = {
  ref: "berth/python:3.11",
  display_name: "Python 3.11",
  version: "3.11",
  apps: [{ name: "jupyter", container_port: 8090 }],
  min_slots: { cpu: "1", mem: String(512 * 2 ** 20) },
};
const AGENT = {
  id: "a1",
  status: "ALIVE",
  resource_group: "default",
  capacity: { cpu: "4", mem: String(4 * 2 ** 30) },
  free: { cpu: "2", mem: String(2 * 2 ** 30) },
};
const ctx = { images: [IMAGE], agents: [AGENT], isAdmin: false };
const form = (patch: Partial<LaunchForm> = {}): LaunchForm => ({
  ...DEFAULT_FORM,
  image: IMAGE.ref,
  ...patch,
});

describe("parsePorts", () => {
  it("accepts commas, spaces and ranges", () => {
    expect(parsePorts("8080, 9000:9002 9100")).toEqual({
      ports: [8080, 9000, 9001, 9002, 9100],
      error: null,
    });
  });
  it.each([
    ["80", "port 80 is outside 1024-65535"],
    ["8080 8080", "port 8080 is given twice"],
    ["8888", "port 8888 is reserved for an app of the environment"],
    ["x1", "'x1' is not a port number"],
    ["9:1", "'9:1' is not a range a:b with a <= b"],
    ["100:2000", "range 100:2000 is outside 1024-65535"],
    ["2000:2010", "at most 10 ports may be opened"],
  ])("%s -> %s", (text, error) => {
    expect(parsePorts(text).error).toBe(error);
  });
  it("refuses the image's app ports", () => {
    expect(parsePorts("8090", new Set([8090])).error).toMatch(/reserved/);
  });
});

describe("validate", () => {
  it("passes the defaults", () => {
    expect(validate(form(), ctx).errors).toEqual({});
  });
  it("checks names, env vars, shmem, threads and capacity", () => {
    const { errors, warnings } = validate(
      form({
        name: "a b",
        env: [
          { name: "1X", value: "" },
          { name: "A", value: "1" },
          { name: "A", value: "2" },
        ],
        shmemAuto: false,
        shmemValue: 2,
        shmemUnit: "g",
        threadsAuto: false,
        omp: 0,
        openblas: 1001,
        cpu: 8,
      }),
      ctx,
    );
    expect(errors.name).toBe("must not contain spaces");
    expect(errors["environ.0.name"]).toMatch(/must start with a letter/);
    expect(errors["environ.0.value"]).toBe("a value is required");
    expect(errors["environ.2.name"]).toBe("variable names must not repeat");
    expect(errors["resources.shmem"]).toBe("must not be larger than memory");
    expect(errors["threads.omp"]).toBe("must be between 1 and 1000");
    expect(errors["threads.openblas"]).toBe("must be between 1 and 1000");
    expect(errors["resources.cpu"]).toMatch(/largest agent's capacity/);
    expect(warnings).toEqual({});
  });
  it("warns (does not block) beyond free capacity and for memory < 2x shmem", () => {
    const { errors, warnings } = validate(
      form({ cpu: 3, shmemAuto: false, shmemValue: 600, shmemUnit: "m" }),
      ctx,
    );
    expect(errors).toEqual({});
    expect(warnings["resources.cpu"]).toMatch(/will wait/);
    expect(warnings["resources.shmem"]).toMatch(/twice/);
  });
  it("needs a startup command for batch and the image minimum", () => {
    const { errors } = validate(form({ type: "batch", cpu: 0.5, memValue: 256, memUnit: "m" }), ctx);
    expect(errors.startup_command).toMatch(/startup command/);
    expect(errors["resources.cpu"]).toBe("the image needs at least 1 core"); // not "1 cores"
    expect(errors["resources.mem"]).toMatch(/at least 512m/);
  });
});

describe("body and history", () => {
  it("sends equal thread counts as threads, different ones as environ", () => {
    expect(toBody(form({ threadsAuto: false, omp: 2, openblas: 2 })).threads).toBe(2);
    const body = toBody(form({ threadsAuto: false, omp: 1, openblas: 2 }));
    expect(body.threads).toBeUndefined();
    expect(body.environ).toEqual({ OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "2" });
  });
  it("round-trips through the URL and through a launch's params", () => {
    const f = form({ name: "ünï", env: [{ name: "A", value: "b" }], ports: "8080, 8081" });
    expect(decodeForm(encodeForm(f))).toEqual(f);
    const back = fromParams(toBody(form({ type: "batch", startupCommand: "echo", timeoutValue: 5, timeoutUnit: "m", shmemAuto: false, shmemValue: 128 })) as unknown as Record<string, unknown>);
    expect(back.type).toBe("batch");
    expect(back.timeoutValue).toBe(5);
    expect(back.shmemValue).toBe(128);
    expect(back.shmemUnit).toBe("m");
  });
  it("suffixes names and maps server fields to steps", () => {
    expect(suffixedName("train")).toMatch(/^train-[a-z]{4}$/);
    expect(suffixedName("x".repeat(64))).toHaveLength(64);
    const f = form({ env: [{ name: "FOO", value: "" }] });
    expect(formField("environ.FOO", f)).toBe("environ.0.name");
    expect(stepOf(formField("threads", f))).toBe(1);
    expect(stepOf("preopen_ports")).toBe(3);
    expect(stepOf("name")).toBe(0);
  });
});

describe("mounts", () => {
  const folders = [
    { id: "f1", name: "data", status: "ready", permission: "rw", my_permission: "rw", auto_mount: false, is_owner: true, owner_kind: "user" },
    { id: "f2", name: "models", status: "ready", permission: "ro", my_permission: "ro", auto_mount: false, is_owner: false, owner_kind: "user" },
  ] as const;
  const withMounts = form({
    mounts: [
      { folder: "f1", path: "", ro: false },
      { folder: "f2", path: " /mnt/models ", ro: true },
    ],
  });
  it("go into the request as folder, path (or null) and mode (or null)", () => {
    expect(toBody(withMounts).mounts).toEqual([
      { folder: "f1", path: null, mode: null },
      { folder: "f2", path: "/mnt/models", mode: "ro" },
    ]);
    expect(toBody(form())).not.toHaveProperty("mounts");
  });
  it("survive the URL and a relaunch from recent history", () => {
    expect(decodeForm(encodeForm(withMounts)).mounts).toEqual(withMounts.mounts);
    const back = fromParams(toBody(withMounts) as unknown as Record<string, unknown>);
    expect(back.mounts).toEqual([
      { folder: "f1", path: "", ro: false },
      { folder: "f2", path: "/mnt/models", ro: true },
    ]);
    expect(fromParams({ image: "x" }).mounts).toEqual([]);
  });
  it("are checked by validate and belong to step 3", () => {
    const f = form({ mounts: [{ folder: "f1", path: "", ro: false }, { folder: "f2", path: "data", ro: true }] });
    const { errors } = validate(f, { ...ctx, folders: [...folders] });
    expect(errors).toEqual({ "mounts.1.path": "/home/work/data overlaps the mount of 'data' at /home/work/data" });
    expect(stepOf("mounts.1.path")).toBe(2);
    expect(stepOf("mounts")).toBe(2);
  });
  it("map the server's field names to rows", () => {
    expect(formField("mounts.1.path", withMounts)).toBe("mounts.1.path");
    expect(formField("mounts[0].folder", withMounts)).toBe("mounts.0.folder");
    expect(formField("mounts.2", withMounts)).toBe("mounts.2.path");
    expect(formField("mounts", withMounts)).toBe("mounts");
  });
});
