import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_FORM, validate, type ImageInfo, type LaunchForm } from "./form";
import ResourcePanel, { sliderMarks } from "./ResourcePanel";
import { CUSTOM, type ResourceCheck, type Scope } from "./resources";
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
const CHECK: ResourceCheck = {
  resource_group: "default",
  project: "lab",
  presets: [{ id: "p1", name: "small", slots: { cpu: "2", mem: String(2 * GIB) }, allocatable: true }],
  scopes: {
    user: scope(null),
    project: scope("lab-policy", { limits: { cpu: "6" }, remaining: { cpu: "6" } }),
    group: scope("default", { remaining: { cpu: "3", mem: String(3 * GIB) } }),
  },
  max_per_container: { cpu: "4", mem: String(4 * GIB) },
  agents: [{ id: "a1", free: { cpu: "3", mem: String(3 * GIB) }, capacity: { cpu: "4", mem: String(4 * GIB) } }],
};
const SCOPE: LaunchScope = {
  projects: ["lab"],
  groups: ["default", "gpu"],
  owner: null,
  presets: [
    { id: "p1", name: "small", resource_group: null, slots: { cpu: "2", mem: String(2 * GIB) } },
    { id: "p2", name: "gpu-only", resource_group: "gpu", slots: { cpu: "8", mem: String(8 * GIB) } },
  ],
  check: CHECK,
  checkError: null,
};

let latest: LaunchForm = DEFAULT_FORM;
function Harness({ initial }: { initial?: Partial<LaunchForm> }) {
  const [form, setFormState] = useState<LaunchForm>({ ...DEFAULT_FORM, image: IMAGE.ref, ...initial });
  latest = form;
  const { errors, warnings } = validate(form, { images: [IMAGE], agents: [], isAdmin: false, check: CHECK });
  return (
    <ResourcePanel
      form={form}
      setForm={(patch) => setFormState((prev) => ({ ...prev, ...patch }))}
      errors={errors}
      warnings={warnings}
      images={[IMAGE]}
      agents={[]}
      scope={SCOPE}
    />
  );
}

afterEach(cleanup);

function openSelect(label: string) {
  const select = document.querySelector(`.ant-select[aria-label="${label}"] .ant-select-selector`)!;
  fireEvent.mouseDown(select);
}
function chooseOption(text: RegExp) {
  const options = [...document.querySelectorAll(".ant-select-dropdown .ant-select-item-option")];
  const option = options.find((o) => text.test(o.textContent ?? ""));
  if (!option) throw new Error(`no option ${text}: ${options.map((o) => o.textContent).join(" | ")}`);
  fireEvent.click(option);
}

describe("ResourcePanel", () => {
  it("offers the global and the group's presets; picking one sets its values", () => {
    render(<Harness />);
    openSelect("Preset");
    const names = [...document.querySelectorAll(".ant-select-dropdown .ant-select-item-option")].map((o) => o.textContent);
    expect(names.join("|")).toMatch(/small/);
    expect(names.join("|")).not.toMatch(/gpu-only/);
    act(() => chooseOption(/^small/));
    expect(latest).toMatchObject({ preset: "p1", cpu: 2, memValue: 2, memUnit: "g", shmemAuto: true });
  });

  it("switches to custom when a value is edited", () => {
    render(<Harness initial={{ preset: "p1", cpu: 2, memValue: 2 }} />);
    expect(document.querySelector('.ant-select[aria-label="Preset"]')!.textContent).toMatch(/small/);
    fireEvent.change(screen.getByLabelText("CPU (cores)"), { target: { value: "3" } });
    expect(latest.preset).toBe(CUSTOM);
    expect(latest.cpu).toBe(3);
    expect(document.querySelector('.ant-select[aria-label="Preset"]')!.textContent).toMatch(/Custom/);
  });

  it("marks what is remaining, per session, and warns beyond it", () => {
    render(<Harness initial={{ cpu: 2, count: 2 }} />);
    expect(screen.getByTestId("cpu-min").textContent).toBe("1");
    expect(screen.getByTestId("cpu-max").textContent).toBe("4");
    expect(screen.getByTestId("cpu-remaining").textContent).toBe("▲ 1.5 left");
    const cpuItem = screen.getByLabelText("CPU (cores)").closest(".ant-form-item") as HTMLElement;
    expect(within(cpuItem).getByText(/the session will wait in the queue/)).toBeTruthy();
    expect(screen.getByTestId("launch-limits").textContent).toMatch(/Remaining now: 3 cores, 3 GiB \(the resource group 'default'\)/);
  });

  it("lists agents with their free resources; switching group resets the agent", () => {
    render(<Harness initial={{ agent: "a1" }} />);
    openSelect("Agent");
    const texts = [...document.querySelectorAll(".ant-select-dropdown .ant-select-item-option")].map((o) => o.textContent);
    expect(texts).toContain("Auto: the scheduler picks one");
    expect(texts.join("|")).toMatch(/a1 — 3 cores of 4 cores, 3 GiB of 4 GiB free/);
    openSelect("Resource group");
    act(() => chooseOption(/^gpu$/));
    expect(latest).toMatchObject({ resourceGroup: "gpu", agent: "" });
  });

  it("offers multi-node disabled, and a cluster size", () => {
    render(<Harness />);
    const multi = screen.getByRole("radio", { name: "Multi-node" }) as HTMLInputElement;
    expect(multi.disabled).toBe(true);
    fireEvent.change(screen.getByLabelText("Cluster size"), { target: { value: "3" } });
    expect(latest.clusterSize).toBe(3);
  });
});

describe("sliderMarks", () => {
  const show = (n: number) => String(n);
  it("marks the ends, and the remaining amount only inside them", () => {
    expect(Object.keys(sliderMarks(1, 4, 2, show, "x")).map(Number).sort()).toEqual([1, 2, 4]);
    expect(Object.keys(sliderMarks(1, 4, 4, show, "x")).map(Number).sort()).toEqual([1, 4]);
    expect(Object.keys(sliderMarks(1, 4, 0.5, show, "x")).map(Number).sort()).toEqual([1, 4]);
    expect(Object.keys(sliderMarks(1, 4, null, show, "x")).map(Number).sort()).toEqual([1, 4]);
  });
});
