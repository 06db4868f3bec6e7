import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { amountForType, shortSlotLabel, shownSlot, slotLabel } from "./AcceleratorField";
import { DEFAULT_FORM, decodeForm, encodeForm, fromParams, toBody, validate, type ImageInfo, type LaunchForm } from "./form";
import ResourcePanel from "./ResourcePanel";
import {
  acceleratorText,
  CUSTOM,
  presetLabel,
  presetValues,
  roundToStep,
  type AcceleratorSlot,
  type ResourceCheck,
  type Scope,
} from "./resources";
import type { LaunchScope } from "./useLaunchScope";

const GIB = 2 ** 30;
const IMAGE: ImageInfo = {
  ref: "berth/python:3.11",
  display_name: "Python 3.11",
  version: "3.11",
  apps: [],
  min_slots: { cpu: "1", mem: String(512 * 2 ** 20) },
};
const scope = (name: string | null, patch: Partial<Scope> = {}): Scope => ({
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
const DEVICE: AcceleratorSlot = {
  name: "mock-gpu.device",
  plugin: "mock-gpu",
  description: "whole mock GPU (tests and demos) devices",
  step: "1",
  mock: true,
};
const SHARES: AcceleratorSlot = {
  name: "mock-gpu.shares",
  plugin: "mock-gpu",
  description: "fraction of one mock GPU (tests and demos) (step 0.1)",
  step: "0.1",
  mock: true,
};
const GPU_CHECK: ResourceCheck = {
  resource_group: "gpu",
  project: "lab",
  presets: [],
  scopes: {
    user: scope(null),
    project: scope(null),
    group: scope("gpu", {
      remaining: { cpu: "3", mem: String(3 * GIB), "mock-gpu.device": "1", "mock-gpu.shares": "1.4" },
    }),
  },
  max_per_container: { cpu: "4", mem: String(4 * GIB), "mock-gpu.device": "2", "mock-gpu.shares": "2" },
  agents: [
    {
      id: "a1",
      // one device free, the other holds 0.6 in shares: 0.4 is the largest share that fits
      free: { cpu: "3", mem: String(3 * GIB), "mock-gpu.device": "1", "mock-gpu.shares": "1" },
      capacity: { cpu: "4", mem: String(4 * GIB), "mock-gpu.device": "2", "mock-gpu.shares": "2" },
    },
  ],
  accelerators: [DEVICE, SHARES],
};
const CPU_CHECK: ResourceCheck = { ...GPU_CHECK, accelerators: [], max_per_container: { cpu: "4", mem: String(4 * GIB) } };

const form = (patch: Partial<LaunchForm> = {}): LaunchForm => ({
  ...DEFAULT_FORM,
  image: IMAGE.ref,
  resourceGroup: "gpu",
  ...patch,
});
const ctx = (check: ResourceCheck = GPU_CHECK) => ({ images: [IMAGE], agents: [], isAdmin: false, check });

// ---- the form, the body and the rules --------------------------------------------------------
describe("accelerator in the request body", () => {
  it("carries the chosen slot with its amount, and none at 0", () => {
    const body = toBody(form({ accelerator: "mock-gpu.shares", acceleratorAmount: 0.5 }));
    expect(body.resources).toEqual({ cpu: 1, mem: "1g", "mock-gpu.shares": 0.5 });
    expect(toBody(form({ accelerator: "mock-gpu.shares", acceleratorAmount: 0 })).resources).toEqual({ cpu: 1, mem: "1g" });
    expect(toBody(form()).resources).not.toHaveProperty("mock-gpu.device");
  });
  it("comes back from a past launch (recent history) and through the URL", () => {
    const picked = form({ accelerator: "mock-gpu.device", acceleratorAmount: 2 });
    const back = fromParams(toBody(picked) as unknown as Record<string, unknown>);
    expect(back).toMatchObject({ accelerator: "mock-gpu.device", acceleratorAmount: 2 });
    expect(decodeForm(encodeForm(picked))).toEqual(picked);
    expect(fromParams({ resources: { cpu: 1 } })).toMatchObject({ accelerator: "", acceleratorAmount: 0 });
  });
  it("is set by a preset that has one, and cleared by one that has none", () => {
    expect(presetValues({ cpu: "2", mem: String(2 * GIB), "mock-gpu.shares": "0.5" })).toMatchObject({
      accelerator: "mock-gpu.shares",
      acceleratorAmount: 0.5,
    });
    expect(presetValues({ cpu: "2" }).acceleratorAmount).toBe(0);
    expect(presetLabel({ cpu: "2", mem: String(2 * GIB), "mock-gpu.device": "2" })).toBe("2 cores, 2 GiB, 2 mock-gpu devices");
  });
  it("names amounts for people", () => {
    expect(acceleratorText("mock-gpu.shares", 0.30000000000000004)).toBe("0.3 of a mock-gpu device");
    expect(acceleratorText("cuda.device", 1)).toBe("1 cuda device");
    expect(acceleratorText("cuda.device", 2)).toBe("2 cuda devices");
    expect(roundToStep(0.30000000000000004, 0.1)).toBe(0.3);
    expect(roundToStep(0.37, 0.25)).toBe(0.25);
  });
});

describe("accelerator rules", () => {
  const errorOf = (patch: Partial<LaunchForm>, check?: ResourceCheck) => validate(form(patch), ctx(check)).errors;
  it("is quiet for a fitting request and for none", () => {
    expect(validate(form({ accelerator: "mock-gpu.device", acceleratorAmount: 1 }), ctx())).toEqual({ errors: {}, warnings: {} });
    expect(validate(form({ accelerator: "mock-gpu.device", acceleratorAmount: 0 }), ctx())).toEqual({ errors: {}, warnings: {} });
  });
  it("refuses what the server refuses: the step, whole devices, more than one device", () => {
    expect(errorOf({ accelerator: "mock-gpu.shares", acceleratorAmount: 0.25 })["resources.mock-gpu.shares"]).toBe(
      "0.25 is not a multiple of the step 0.1",
    );
    expect(errorOf({ accelerator: "mock-gpu.device", acceleratorAmount: 1.5 })["resources.mock-gpu.device"]).toMatch(
      /must be a whole number of devices/,
    );
    expect(errorOf({ accelerator: "mock-gpu.shares", acceleratorAmount: 1.5 })["resources.mock-gpu.shares"]).toMatch(
      /more than one device/,
    );
    expect(errorOf({ accelerator: "mock-gpu.shares", acceleratorAmount: -1 })["resources.mock-gpu.shares"]).toBe(
      "must not be negative",
    );
    expect(errorOf({ accelerator: "mock-gpu.shares", acceleratorAmount: null })["resources.mock-gpu.shares"]).toMatch(/enter an amount/);
  });
  it("allows whole devices only for a cluster", () => {
    expect(errorOf({ accelerator: "mock-gpu.shares", acceleratorAmount: 0.5, clusterSize: 2 })["resources.mock-gpu.shares"]).toBe(
      "cluster sessions (2 or more kernels) may use whole devices only",
    );
    expect(errorOf({ accelerator: "mock-gpu.device", acceleratorAmount: 1, clusterSize: 2 })).toEqual({});
  });
  it("refuses more than the largest agent has, for one kernel or a cluster on one agent", () => {
    expect(errorOf({ accelerator: "mock-gpu.device", acceleratorAmount: 3 })["resources.mock-gpu.device"]).toBe(
      "exceeds the largest agent's capacity (2 mock-gpu devices)",
    );
    expect(errorOf({ accelerator: "mock-gpu.device", acceleratorAmount: 2, clusterSize: 2 })["resources.mock-gpu.device"]).toBe(
      "a single-node cluster of 2 needs 4 mock-gpu devices on one agent; the largest has 2 mock-gpu devices",
    );
  });
  it("refuses a slot the group does not offer", () => {
    expect(errorOf({ accelerator: "mock-gpu.shares", acceleratorAmount: 0.5 }, CPU_CHECK)["resources.mock-gpu.shares"]).toBe(
      "the resource group 'gpu' offers no mock-gpu.shares: choose another type or 0",
    );
  });
  it("warns (does not block) when no agent has that much free now", () => {
    const tight = {
      ...GPU_CHECK,
      agents: [{ ...GPU_CHECK.agents[0], free: { ...GPU_CHECK.agents[0].free, "mock-gpu.shares": "0.4" } }],
    };
    const { errors, warnings } = validate(form({ accelerator: "mock-gpu.shares", acceleratorAmount: 0.5 }), ctx(tight));
    expect(errors).toEqual({});
    expect(warnings["resources.mock-gpu.shares"]).toBe(
      "more than any agent has free now (0.4 of a mock-gpu device): the session will wait in the queue",
    );
    // the group's sum of shares is no total a kernel could use: no "remaining" warning from it
    const three = validate(form({ accelerator: "mock-gpu.shares", acceleratorAmount: 0.6, count: 3 }), ctx());
    expect(three.warnings).toEqual({});
  });
  it("weighs policy totals (errors) and what is remaining under them (warnings)", () => {
    const limited = {
      ...GPU_CHECK,
      scopes: {
        ...GPU_CHECK.scopes,
        user: scope("small", { limits: { "mock-gpu.device": "2" }, used: { "mock-gpu.device": "1" }, remaining: { "mock-gpu.device": "1" } }),
      },
    };
    const waits = validate(form({ accelerator: "mock-gpu.device", acceleratorAmount: 1, count: 2 }), ctx(limited));
    expect(waits.errors).toEqual({});
    expect(waits.warnings["resources.mock-gpu.device"]).toBe(
      "more than is remaining now (1 mock-gpu device under your policy 'small'): the session will wait in the queue",
    );
    const over = validate(form({ accelerator: "mock-gpu.device", acceleratorAmount: 2, count: 2 }), ctx(limited));
    expect(over.errors["resources.mock-gpu.device"]).toBe(
      "user policy 'small' allows 2 mock-gpu devices in total; this asks 4 mock-gpu devices (2 sessions × 2 mock-gpu devices)",
    );
  });
  it("warns when the chosen agent has too little free", () => {
    const { warnings } = validate(form({ accelerator: "mock-gpu.device", acceleratorAmount: 2, agent: "a1" }), ctx());
    expect(warnings.agent).toBe("a1 has 1 mock-gpu device free now: the session will wait in the queue for it");
  });
});

describe("AcceleratorField helpers", () => {
  it("labels a slot from its description, without an agent's step", () => {
    expect(slotLabel(SHARES)).toBe("Fraction of one mock GPU (tests and demos)");
    expect(slotLabel(DEVICE)).toBe("Whole mock GPU (tests and demos) devices");
    expect(shortSlotLabel(SHARES)).toBe("Fraction of one mock GPU");
    expect(shortSlotLabel(DEVICE)).toBe("Whole mock GPU devices");
  });
  it("shows the form's slot, else the first offered one a cluster may use", () => {
    expect(shownSlot(form({ accelerator: "mock-gpu.shares" }), [DEVICE, SHARES], 1)).toBe("mock-gpu.shares");
    expect(shownSlot(form(), [SHARES, DEVICE], 1)).toBe("mock-gpu.shares");
    expect(shownSlot(form(), [SHARES, DEVICE], 2)).toBe("mock-gpu.device");
    expect(shownSlot(form(), [], 1)).toBeNull();
  });
  it("brings the amount into the new type's range and step", () => {
    expect(amountForType(0, 1, 2)).toBe(0);
    expect(amountForType(0.5, 1, 2)).toBe(1);
    expect(amountForType(2, 0.1, 1)).toBe(1);
    expect(amountForType(0.3, 0.25, 1)).toBe(0.25);
  });
});

// ---- the field in the resource step ---------------------------------------------------------
let latest: LaunchForm = DEFAULT_FORM;
function Harness({ initial, check = GPU_CHECK, presets = [] }: { initial?: Partial<LaunchForm>; check?: ResourceCheck; presets?: LaunchScope["presets"] }) {
  const [state, setState] = useState<LaunchForm>(form(initial));
  latest = state;
  const { errors, warnings } = validate(state, ctx(check));
  const launchScope: LaunchScope = { projects: ["lab"], groups: ["gpu"], owner: null, presets, check, checkError: null };
  return (
    <ResourcePanel
      form={state}
      setForm={(patch) => setState((prev) => ({ ...prev, ...patch }))}
      errors={errors}
      warnings={warnings}
      images={[IMAGE]}
      agents={[]}
      scope={launchScope}
    />
  );
}

afterEach(cleanup);

const field = () => screen.queryByTestId("accelerator-field");
function openType() {
  fireEvent.mouseDown(document.querySelector('.ant-select[aria-label="Accelerator type"] .ant-select-selector')!);
}
function options() {
  return [...document.querySelectorAll(".ant-select-dropdown .ant-select-item-option")].filter((o) =>
    o.querySelector('[data-testid="accelerator-option"]'),
  );
}
const slider = () => within(field()!).getByRole("slider");

describe("AcceleratorField in the resource step", () => {
  it("is not there when the group offers no accelerator", () => {
    render(<Harness check={CPU_CHECK} />);
    expect(field()).toBeNull();
    expect(screen.queryByText("AI accelerator")).toBeNull();
  });

  it("offers each slot by its description with a mock tag; none by default; whole devices in steps of 1", () => {
    render(<Harness />);
    expect(screen.getByText("AI accelerator")).toBeTruthy();
    expect(screen.getByLabelText("Accelerator amount")).toHaveProperty("value", "0");
    expect(slider().getAttribute("aria-valuemax")).toBe("2");
    expect(screen.getByTestId("accelerator-max").textContent).toBe("2");
    expect(screen.getByTestId("accelerator-hint").textContent).toMatch(/Whole devices; 0: none\. Free now: up to 1 device on one agent\./);
    openType();
    const texts = options().map((o) => o.textContent);
    expect(texts).toEqual(["Whole mock GPU (tests and demos) devicesmock", "Fraction of one mock GPU (tests and demos)step 0.1mock"]);
    expect(toBody(latest).resources).toEqual({ cpu: 1, mem: "1g" });
    expect(screen.getByTestId("launch-limits").textContent).toMatch(/Largest agent: 4 cores, 4 GiB, 2 mock-gpu devices\./);
    expect(screen.getByTestId("launch-limits").textContent).toMatch(/a1: 3 cores of 4 cores, 3 GiB of 4 GiB, 1 of 2 mock-gpu devices free/);
  });

  it("sets a share of one device in the group's step, up to 1, into the body; the preset turns custom", () => {
    const presets = [{ id: "p1", name: "small", resource_group: null, slots: { cpu: "1", mem: String(GIB) } }];
    render(<Harness presets={presets} initial={{ preset: "p1" }} />);
    openType();
    act(() => {
      fireEvent.click(options().find((o) => /Fraction/.test(o.textContent ?? ""))!);
    });
    expect(latest.accelerator).toBe("mock-gpu.shares");
    expect(slider().getAttribute("aria-valuemax")).toBe("1");
    expect(screen.getByTestId("accelerator-hint").textContent).toMatch(/A fraction of one device, in steps of 0\.1; 0: none\. Free now: up to 1 of one device\./);
    expect(document.querySelector('.ant-select[aria-label="Accelerator type"] .ant-select-selection-item')!.textContent).toBe(
      "Fraction of one mock GPUmock",
    );
    fireEvent.change(screen.getByLabelText("Accelerator amount"), { target: { value: "0.5" } });
    expect(latest).toMatchObject({ accelerator: "mock-gpu.shares", acceleratorAmount: 0.5, preset: CUSTOM });
    expect(toBody(latest).resources).toEqual({ cpu: 1, mem: "1g", "mock-gpu.shares": 0.5 });
    expect(document.querySelector('.ant-select[aria-label="Preset"]')!.textContent).toMatch(/Custom/);
  });

  it("a preset with an accelerator sets the field", () => {
    const presets = [{ id: "g1", name: "half-gpu", resource_group: null, slots: { cpu: "1", mem: String(GIB), "mock-gpu.shares": "0.5" } }];
    render(<Harness presets={presets} />);
    fireEvent.mouseDown(document.querySelector('.ant-select[aria-label="Preset"] .ant-select-selector')!);
    const option = [...document.querySelectorAll(".ant-select-dropdown .ant-select-item-option")].find((o) =>
      /half-gpu/.test(o.textContent ?? ""),
    )!;
    expect(option.textContent).toMatch(/0\.5 of a mock-gpu device/);
    act(() => {
      fireEvent.click(option);
    });
    expect(latest).toMatchObject({ preset: "g1", accelerator: "mock-gpu.shares", acceleratorAmount: 0.5 });
    expect(screen.getByLabelText("Accelerator amount")).toHaveProperty("value", "0.5");
  });

  it("shows more than is free or remaining now as a warning", () => {
    render(<Harness initial={{ accelerator: "mock-gpu.device", acceleratorAmount: 2 }} />);
    const item = field()!.closest(".ant-form-item") as HTMLElement;
    expect(item.className).toMatch(/has-warning/);
    expect(within(item).getByText(/more than is remaining now \(1 mock-gpu device under the resource group 'gpu'\): the session will wait/)).toBeTruthy();
  });

  it("says when nothing is free now", () => {
    const busy = {
      ...GPU_CHECK,
      agents: [{ ...GPU_CHECK.agents[0], free: { ...GPU_CHECK.agents[0].free, "mock-gpu.device": "0" } }],
    };
    render(<Harness check={busy} />);
    expect(screen.getByTestId("accelerator-hint").textContent).toMatch(/None free now on any agent: a session asking for one waits\./);
  });

  it("in a cluster, offers shares disabled with the reason and shows whole devices", () => {
    render(<Harness initial={{ clusterSize: 2 }} />);
    expect(document.querySelector('.ant-select[aria-label="Accelerator type"]')!.textContent).toMatch(/Whole/);
    expect(screen.getByTestId("accelerator-hint").textContent).toMatch(/A cluster \(2 or more kernels\) uses whole devices only/);
    openType();
    const shares = options().find((o) => /Fraction/.test(o.textContent ?? ""))!;
    expect(shares.className).toMatch(/ant-select-item-option-disabled/);
    expect(shares.textContent).toMatch(/whole devices only in a cluster/);
  });

  it("keeps a slot asked for that the group does not offer visible, with the error", () => {
    render(<Harness check={CPU_CHECK} initial={{ accelerator: "mock-gpu.shares", acceleratorAmount: 0.5 }} />);
    const item = field()!.closest(".ant-form-item") as HTMLElement;
    expect(item.className).toMatch(/has-error/);
    expect(within(item).getByText(/offers no mock-gpu.shares/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Accelerator amount"), { target: { value: "0" } });
    expect(latest.acceleratorAmount).toBe(0);
    expect(field()).toBeNull();
  });
});
