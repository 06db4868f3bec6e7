import { describe, expect, it } from "vitest";
import { DEFAULT_FORM, toBody, fromParams, validate, decodeForm, encodeForm, type ImageInfo, type LaunchForm } from "./form";
import {
  CUSTOM,
  presetLabel,
  presetsFor,
  presetValues,
  remainingMark,
  resourceRules,
  resourceView,
  type ResourceCheck,
  type Scope,
} from "./resources";

const GIB = 2 ** 30;
const IMAGE: ImageInfo = {
  ref: "berth/python:3.11",
  display_name: "Python 3.11",
  version: "3.11",
  apps: [],
  min_slots: { cpu: "1", mem: String(512 * 2 ** 20) },
};

const scope = (name: string, patch: Partial<Scope> = {}): Scope => ({
  name,
  limits: {},
  used: {},
  remaining: {},
  max_concurrent_sessions: null,
  concurrent_sessions: 0,
  max_pending_sessions: null,
  pending_sessions: 0,
  ...patch,
});

const CHECK: ResourceCheck = {
  resource_group: "gpu",
  project: "vision",
  presets: [
    { id: "p-small", name: "small", slots: { cpu: "1", mem: String(GIB) }, allocatable: true },
    { id: "p-big", name: "big", slots: { cpu: "8", mem: String(16 * GIB) }, allocatable: false },
  ],
  scopes: {
    user: scope("me@example.com", { limits: { cpu: "16" }, used: { cpu: "10" }, remaining: { cpu: "6" } }),
    project: scope("vision", {
      limits: { cpu: "32", mem: String(64 * GIB) },
      used: { cpu: "28", mem: String(8 * GIB) },
      remaining: { cpu: "4", mem: String(56 * GIB) },
    }),
    group: scope("gpu", { remaining: { cpu: "12", mem: String(24 * GIB) } }),
  },
  max_per_container: { cpu: "8", mem: String(16 * GIB) },
  agents: [
    { id: "a1", free: { cpu: "3", mem: String(8 * GIB) }, capacity: { cpu: "8", mem: String(16 * GIB) } },
    { id: "a2", free: { cpu: "1", mem: String(4 * GIB) }, capacity: { cpu: "4", mem: String(8 * GIB) } },
  ],
};

const form = (patch: Partial<LaunchForm> = {}): LaunchForm => ({
  ...DEFAULT_FORM,
  image: IMAGE.ref,
  resourceGroup: "gpu",
  project: "vision",
  ...patch,
});
const ctx = { images: [IMAGE], agents: [], isAdmin: false, check: CHECK };

describe("presets", () => {
  it("sets cpu, memory and shared memory from a preset's slots", () => {
    expect(presetValues({ cpu: "2", mem: String(4 * GIB), shmem: String(256 * 2 ** 20) })).toEqual({
      cpu: 2,
      memValue: 4,
      memUnit: "g",
      shmemAuto: false,
      shmemValue: 256,
      shmemUnit: "m",
      acceleratorAmount: 0,
    });
    // no shmem in the preset: back to auto; no accelerator: none (0)
    expect(presetValues({ cpu: "0.5", mem: String(1536 * 2 ** 20) })).toEqual({
      cpu: 0.5,
      memValue: 1.5,
      memUnit: "g",
      shmemAuto: true,
      acceleratorAmount: 0,
    });
  });
  it("describes a preset", () => {
    expect(presetLabel({ cpu: "2", mem: String(4 * GIB), shmem: String(GIB) })).toBe("2 cores, 4 GiB (shm 1 GiB)");
  });
  it("offers the global presets and the group's, by name", () => {
    const list = [
      { id: "1", name: "z-global", resource_group: null, slots: {} },
      { id: "2", name: "a-gpu", resource_group: "gpu", slots: {} },
      { id: "3", name: "other", resource_group: "cpu", slots: {} },
    ];
    expect(presetsFor(list, "gpu").map((p) => p.id)).toEqual(["2", "1"]);
  });
  it("a preset's values give the same request as typing them; custom is the default", () => {
    const picked = form({ preset: "p-small", ...presetValues(CHECK.presets[0].slots) });
    expect(toBody(picked).resources).toEqual({ cpu: 1, mem: "1g" });
    expect(DEFAULT_FORM.preset).toBe(CUSTOM);
    expect(decodeForm(encodeForm(picked))).toEqual(picked);
  });
});

describe("the request body", () => {
  it("carries project, group, agent, cluster and count", () => {
    const body = toBody(form({ agent: "a1", clusterSize: 2, count: 3 }));
    expect(body).toMatchObject({
      project: "vision",
      resource_group: "gpu",
      agent: "a1",
      cluster_mode: "single-node",
      cluster_size: 2,
      count: 3,
    });
    const back = fromParams(body as unknown as Record<string, unknown>);
    expect(back).toMatchObject({ project: "vision", resourceGroup: "gpu", agent: "a1", clusterSize: 2, count: 3 });
  });
  it("leaves out project and agent when not chosen", () => {
    const body = toBody({ ...DEFAULT_FORM, image: "x" });
    expect(body).not.toHaveProperty("project");
    expect(body).not.toHaveProperty("agent");
    expect(body.resource_group).toBe("default");
  });
});

describe("resourceView", () => {
  const view = resourceView(CHECK, [], "gpu");
  it("takes the least remaining over user, project and group", () => {
    expect(view.remaining.cpu).toEqual({ amount: 4, scope: "project", name: "vision" });
    expect(view.remaining.mem).toEqual({ amount: 24 * GIB, scope: "group", name: "gpu" });
    expect(view.maxPerContainer).toEqual({ cpu: 8, mem: 16 * GIB });
    expect(view.largestFree).toEqual({ cpu: 3, mem: 8 * GIB });
  });
  it("puts the remaining mark per session and kernel", () => {
    expect(remainingMark(view, "cpu", 1, 1)).toBe(4);
    expect(remainingMark(view, "cpu", 2, 2)).toBe(1);
    expect(remainingMark(view, "gpu", 1, 1)).toBeNull(); // unlimited
  });
  it("falls back to the group's alive agents without the check", () => {
    const agents = [
      { id: "x", status: "ALIVE", resource_group: "gpu", capacity: { cpu: "4" }, free: { cpu: "2" } },
      { id: "y", status: "LOST", resource_group: "gpu", capacity: { cpu: "64" }, free: { cpu: "64" } },
      { id: "z", status: "ALIVE", resource_group: "cpu", capacity: { cpu: "32" }, free: { cpu: "32" } },
      { id: "w", status: "ALIVE", resource_group: "gpu", capacity: { cpu: "16" }, free: { cpu: "16" }, schedulable: false },
    ];
    const v = resourceView(null, agents, "gpu");
    expect(v.maxPerContainer).toEqual({ cpu: 4 });
    expect(v.remaining).toEqual({});
    expect(v.agents.map((a) => a.id)).toEqual(["x"]);
  });
});

describe("warnings and hard limits", () => {
  it("is quiet when the request fits what is remaining", () => {
    const { errors, warnings } = validate(form({ cpu: 2 }), ctx);
    expect(errors).toEqual({});
    expect(warnings).toEqual({});
  });
  it("warns (does not block) over what is remaining now", () => {
    const { errors, warnings } = validate(form({ cpu: 5 }), ctx);
    expect(errors).toEqual({});
    expect(warnings["resources.cpu"]).toBe(
      "more than is remaining now (4 cores under the project's policy 'vision'): the session will wait in the queue",
    );
  });
  it("counts sessions and cluster kernels against what is remaining", () => {
    const { errors, warnings } = validate(form({ cpu: 1, count: 3, clusterSize: 2 }), ctx);
    expect(errors).toEqual({});
    expect(warnings["resources.cpu"]).toMatch(/remaining now \(4 cores/);
  });
  it("warns when no agent has that much free, though the policies leave room", () => {
    const roomy = { ...CHECK, scopes: { group: scope("gpu", { remaining: { cpu: "12" } }) } };
    const { warnings } = validate(form({ cpu: 3.5 }), { ...ctx, check: roomy });
    expect(warnings["resources.cpu"]).toMatch(/more than any agent has free now \(3 cores\).*wait in the queue/);
  });
  it("is an error over the largest agent", () => {
    const { errors } = validate(form({ cpu: 9 }), ctx);
    expect(errors["resources.cpu"]).toBe("exceeds the largest agent's capacity (8 cores)");
  });
  it("is an error when a single-node cluster does not fit the largest agent", () => {
    const { errors } = validate(form({ cpu: 3, clusterSize: 3 }), ctx);
    expect(errors.cluster_size).toBe("a single-node cluster of 3 needs 9 cores on one agent; the largest has 8 cores");
  });
  it("names every policy total broken, with its numbers", () => {
    const tight = {
      ...CHECK,
      scopes: {
        user: scope("me@example.com", { limits: { cpu: "4" }, remaining: { cpu: "4" } }),
        project: scope("vision", { limits: { cpu: "6" }, remaining: { cpu: "6" } }),
      },
    };
    const { errors } = validate(form({ cpu: 4, count: 2 }), { ...ctx, check: tight });
    expect(errors["resources.cpu"]).toBe(
      "user policy 'me@example.com' allows 4 cores in total; this asks 8 cores (2 sessions × 4 cores); " +
        "project policy 'vision' allows 6 cores in total; this asks 8 cores (2 sessions × 4 cores)",
    );
  });
  it("warns when the chosen agent has too little free", () => {
    const { errors, warnings } = validate(form({ cpu: 2, agent: "a2" }), ctx);
    expect(errors).toEqual({});
    expect(warnings.agent).toBe("a2 has 1 core free now: the session will wait in the queue for it");
    expect(validate(form({ cpu: 2, agent: "a1" }), ctx).warnings.agent).toBeUndefined();
  });
  it("warns over a concurrent-session policy", () => {
    const busy = { ...CHECK, scopes: { user: scope("me", { max_concurrent_sessions: 2, concurrent_sessions: 2 }) } };
    expect(validate(form({ count: 1 }), { ...ctx, check: busy }).warnings.count).toBe(
      "your policy 'me' allows 2 sessions at once; there are 2: these wait in the queue",
    );
  });
  it("checks the cluster size and refuses multi-node for now", () => {
    expect(validate(form({ clusterSize: 0 }), ctx).errors.cluster_size).toBe("must be a whole number from 1 to 64");
    expect(validate(form({ clusterMode: "multi-node" }), ctx).errors.cluster_mode).toMatch(/single-node/);
  });
  it("resourceRules skips a slot whose basic rule failed", () => {
    const v = resourceView(CHECK, [], "gpu");
    const r = resourceRules({ cpu: 100, mem: null, count: 1, clusterSize: 1, agent: "" }, v, { cpu: false, mem: false });
    expect(r.errors).toEqual({});
  });
});
