import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { App } from "antd";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api";
import AgentsPage, { agentPlugins, deviceFigures, usagePercent } from "./AgentsPage";
import GroupsPage, { groupBody, groupValues, type ResourceGroup } from "./GroupsPage";
import PoliciesPage, { policyBody, policyValues } from "./PoliciesPage";
import ProjectsPage from "./ProjectsPage";
import { applyErrors } from "./shared";
import type { Policy } from "./types";

const GIB = 2 ** 30;

describe("policy form <-> API body", () => {
  const empty = {
    name: "p",
    description: "",
    cpu: null,
    memGiB: null,
    max_concurrent_sessions: null,
    max_pending_sessions: null,
    max_containers_per_session: null,
    lifetimeHours: null,
    idleMinutes: null,
    max_folders: null,
    max_customized_images: null,
  };
  it("sends an empty limit as unlimited (null, or a slot left out)", () => {
    expect(policyBody(empty)).toEqual({
      name: "p",
      description: "",
      total_slots: {},
      max_concurrent_sessions: null,
      max_pending_sessions: null,
      max_containers_per_session: null,
      max_session_lifetime: null,
      idle_timeout: null,
      max_folders: null,
      max_customized_images: null,
    });
  });
  it("converts GiB, hours and minutes, and back", () => {
    const values = { ...empty, cpu: 8, memGiB: 16, lifetimeHours: 2, idleMinutes: 30, max_folders: 0 };
    const body = policyBody(values);
    expect(body.total_slots).toEqual({ cpu: "8", mem: String(16 * GIB) });
    expect(body.max_session_lifetime).toBe(7200);
    expect(body.idle_timeout).toBe(1800);
    expect(body.max_folders).toBe(0); // zero is a limit, not unlimited
    expect(policyValues(body as Policy)).toEqual(values);
  });
});

describe("usagePercent", () => {
  it("is the share in use, bounded, 0 without a capacity", () => {
    expect(usagePercent("1", "4")).toBe(25);
    expect(usagePercent("5", "4")).toBe(100);
    expect(usagePercent("1", "0")).toBe(0);
    expect(usagePercent(undefined, undefined)).toBe(0);
  });
});

describe("applyErrors", () => {
  it("puts each message on the form field its server path maps to", () => {
    const form = { setFields: vi.fn() };
    const error = new ApiError(422, "x", [
      { field: "total_slots.cpu", message: "must be a number" },
      { field: "name", message: "is taken" },
    ]);
    const left = applyErrors(form as never, error, { "total_slots.cpu": "cpu", name: "name" });
    expect(left).toBeNull();
    expect(form.setFields).toHaveBeenCalledWith([
      { name: "cpu", errors: ["must be a number"] },
      { name: "name", errors: ["is taken"] },
    ]);
  });
  it("leaves what no field takes to the alert", () => {
    const form = { setFields: vi.fn() };
    const error = new ApiError(409, "policy 'p' is in use", []);
    expect(applyErrors(form as never, error, ["name"])).toBe("policy 'p' is in use");
    expect(applyErrors(form as never, new Error("offline"), ["name"])).toBe("offline");
  });
});

// ---- pages against a stubbed API ----------------------------------------------------------
let calls: { method: string; url: string; body: unknown }[] = [];
let answer: (method: string, url: string, body: unknown) => Response;

beforeEach(() => {
  calls = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? "GET";
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
      calls.push({ method, url, body });
      return answer(method, url, body);
    }),
  );
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("PoliciesPage", () => {
  it("shows the empty state, and a server refusal at the field it names", async () => {
    answer = (method, url) => {
      if (method === "GET" && url.startsWith("/api/resource-policies")) return Response.json([]);
      if (method === "POST" && url === "/api/resource-policies") {
        return Response.json(
          { detail: [{ loc: ["body", "total_slots", "cpu"], msg: "must be more than 0", type: "value_error" }] },
          { status: 422 },
        );
      }
      return Response.json([]);
    };
    render(
      <App>
        <PoliciesPage />
      </App>,
    );
    expect(await screen.findByText("No policies yet: every user and project is unlimited.")).toBeTruthy();
    // Plain selectors: role and label queries walk the whole dialog, slow in jsdom.
    const newPolicy = [...document.querySelectorAll("button")].find((b) => /New policy/.test(b.textContent ?? ""));
    fireEvent.click(newPolicy as HTMLElement);
    fireEvent.change(document.querySelector('input[aria-label="Name"]') as HTMLElement, { target: { value: "tiny" } });
    fireEvent.change(document.querySelector('input[aria-label="CPU total (cores)"]') as HTMLElement, { target: { value: "0" } });
    await act(async () => {
      fireEvent.click(document.querySelector(".ant-modal-footer .ant-btn-primary") as HTMLElement);
    });
    await waitFor(() => expect(screen.getByText("must be more than 0")).toBeTruthy());
    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toMatchObject({ name: "tiny", total_slots: { cpu: "0" }, max_concurrent_sessions: null });
    const item = screen.getByText("must be more than 0").closest(".ant-form-item") as HTMLElement;
    expect(item.textContent).toMatch(/CPU total/);
  }, 60000);
});

describe("ProjectsPage", () => {
  it("lists projects with their policy (or unlimited) and member counts", async () => {
    answer = (_method, url) => {
      if (url.startsWith("/api/projects")) {
        return Response.json([
          { id: "1", name: "vision", description: "lab", is_active: true, resource_policy: "small", members_count: 3 },
          { id: "2", name: "nlp", description: "", is_active: false, resource_policy: null, members_count: 0 },
        ]);
      }
      return Response.json([]);
    };
    render(
      <App>
        <ProjectsPage />
      </App>,
    );
    expect(await screen.findByText("vision")).toBeTruthy();
    const table = within(document.querySelector(".ant-table") as HTMLElement);
    expect(table.getByText("small")).toBeTruthy();
    expect(table.getByText("unlimited")).toBeTruthy();
    expect(table.getByText("inactive")).toBeTruthy();
    const members = document.querySelectorAll('button[aria-label="Members of vision"]');
    expect(members).toHaveLength(1);
    expect(members[0].textContent).toBe("3");
  }, 30000);
});

// ---- accelerators (issue 10) --------------------------------------------------------------
const MOCK_PLUGIN = {
  name: "mock-gpu",
  slots: [{ name: "mock-gpu.device", unit: "count", description: "whole", quantum: "1" }],
  devices: [
    { id: "0", memory: 16 * GIB, model: "MockA100", utilization: 35.2, memory_used: 2 * GIB },
    { id: "1", memory: 16 * GIB, model: "MockA100", utilization: null, memory_used: null },
  ],
  reason: "",
  mock: true,
};
const CUDA_NONE = { name: "cuda", slots: [], devices: [], reason: "NVML not found: no NVIDIA driver", mock: false };
const AGENT = {
  id: "gpu-1",
  status: "ALIVE",
  resource_group: "default",
  capacity: { cpu: "4", mem: String(4 * GIB), "mock-gpu.device": "2", "mock-gpu.shares": "2" },
  occupied: { cpu: "1", mem: String(GIB), "mock-gpu.shares": "0.5" },
  free: { cpu: "3", mem: String(3 * GIB), "mock-gpu.device": "1", "mock-gpu.shares": "1" },
  last_heartbeat: new Date().toISOString(),
  version: "0.1.0",
  info: { accelerators: [MOCK_PLUGIN, CUDA_NONE] },
  schedulable: true,
  devices: [
    { plugin: "mock-gpu", id: "0", model: "MockA100", memory: 16 * GIB, state: "shared", shares_used: "0.5", shares_free: "0.5", kernels: ["k1"] },
    { plugin: "mock-gpu", id: "1", model: "MockA100", memory: 16 * GIB, state: "free", shares_used: "0", shares_free: "1", kernels: [] },
  ],
};

describe("agents' accelerator devices", () => {
  it("reads the plugins an agent reports, leaving out what does not parse", () => {
    expect(agentPlugins({ accelerators: [MOCK_PLUGIN, { devices: [] }, CUDA_NONE] }).map((p) => [p.name, p.devices.length, p.reason, p.mock])).toEqual([
      ["mock-gpu", 2, null, true],
      ["cuda", 0, "NVML not found: no NVIDIA driver", false],
    ]);
    expect(agentPlugins(undefined)).toEqual([]);
    expect(agentPlugins({ accelerators: "x" })).toEqual([]);
  });
  it("shows a device's memory, and use when known", () => {
    const [d0, d1] = agentPlugins({ accelerators: [MOCK_PLUGIN] })[0].devices;
    expect(deviceFigures(d0)).toBe("35% busy, 2 GiB used");
    expect(deviceFigures(d1)).toBe("");
  });
  it("lists each agent's plugins with MOCK, devices, their use, and why a plugin has none", async () => {
    answer = (_method, url) => Response.json(url.startsWith("/api/agents") ? [AGENT] : []);
    render(
      <App>
        <AgentsPage />
      </App>,
    );
    const cell = within(await screen.findByTestId("agent-devices-gpu-1"));
    expect(cell.getByText("MOCK")).toBeTruthy();
    expect(cell.getByText("1 of 2 free whole")).toBeTruthy();
    const devices = cell.getAllByTestId("agent-device").map((d) => d.textContent);
    expect(devices[0]).toBe("0 MockA100 · 16 GiB shared: 0.5 used35% busy, 2 GiB used");
    expect(devices[1]).toBe("1 MockA100 · 16 GiB free");
    expect(cell.getByText("no devices: NVML not found: no NVIDIA driver")).toBeTruthy();
    expect(screen.getByRole("columnheader", { name: "Accelerators" })).toBeTruthy();
  }, 30000);
});

describe("resource groups' accelerator settings", () => {
  const GROUP: ResourceGroup = {
    name: "gpu",
    description: "",
    is_active: true,
    scheduler: "fifo",
    agent_selection: "dispersed",
    allowed_session_types: ["interactive", "batch"],
    pending_timeout: 0,
    allow_sudo: false,
    accelerator_quantum: "0.25",
    accelerator_policy: "spread",
    projects: [],
    users: [],
    agents: 1,
  };
  it("sends the step as a decimal string and reads it back", () => {
    const values = groupValues(GROUP);
    expect(values).toMatchObject({ accelerator_quantum: 0.25, accelerator_policy: "spread" });
    expect(values).not.toHaveProperty("agents");
    expect(groupBody({ ...values, accelerator_quantum: 0.1 + 0.2 })).toMatchObject({ accelerator_quantum: "0.3", accelerator_policy: "spread" });
    expect(groupValues({ ...GROUP, accelerator_quantum: "", accelerator_policy: "odd" })).toMatchObject({
      accelerator_quantum: 0.1,
      accelerator_policy: "fill",
    });
  });
  it("shows them in the table and edits them", async () => {
    answer = (method, url, body) => {
      if (method === "PATCH") return Response.json({ ...GROUP, ...(body as object) });
      return Response.json(url.startsWith("/api/resource-groups") ? [GROUP] : []);
    };
    render(
      <App>
        <GroupsPage />
      </App>,
    );
    const cell = await screen.findByTestId("group-accelerators-gpu");
    expect(cell.textContent).toBe("step 0.25spread");
    fireEvent.click(document.querySelector('button[aria-label="Edit gpu"]') as HTMLElement);
    const step = await waitFor(() => {
      const input = document.querySelector('input[aria-label="Accelerator shares step"]');
      if (!input) throw new Error("no step field yet");
      return input;
    });
    await waitFor(() => expect((step as HTMLInputElement).value).toBe("0.25"));
    expect(screen.getByTestId("policy-help").textContent).toMatch(/least used device/);
    fireEvent.change(step, { target: { value: "0.5" } });
    fireEvent.mouseDown(document.querySelector('.ant-select[aria-label="Accelerator shares policy"] .ant-select-selector')!);
    const fill = [...document.querySelectorAll(".ant-select-dropdown .ant-select-item-option")].find((o) => o.textContent === "Fill")!;
    act(() => {
      fireEvent.click(fill);
    });
    await waitFor(() => expect(screen.getByTestId("policy-help").textContent).toMatch(/most used device/));
    await act(async () => {
      fireEvent.click(document.querySelector(".ant-modal-footer .ant-btn-primary") as HTMLElement);
    });
    await waitFor(() => expect(calls.some((c) => c.method === "PATCH")).toBe(true));
    const patch = calls.find((c) => c.method === "PATCH")!;
    expect(patch.url).toBe("/api/resource-groups/gpu");
    expect(patch.body).toMatchObject({ accelerator_quantum: "0.5", accelerator_policy: "fill" });
  }, 60000);
});
