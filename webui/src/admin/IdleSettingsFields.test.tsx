import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { App } from "antd";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import GroupsPage, { type ResourceGroup } from "./GroupsPage";

const GROUP: ResourceGroup = {
  name: "gpu",
  description: "",
  is_active: true,
  scheduler: "fifo",
  agent_selection: "dispersed",
  allowed_session_types: ["interactive", "batch"],
  pending_timeout: 0,
  allow_sudo: false,
  accelerator_quantum: "0.1",
  accelerator_policy: "fill",
  projects: [],
  users: [],
  agents: 1,
  max_session_lifetime: 86400,
  idle_timeout: 1800,
  utilization_window: null,
  grace_period: 600,
  utilization_thresholds: { cpu: 5 },
  utilization_combine: "or",
  warn_before: 300,
};

let patches: unknown[] = [];

beforeEach(() => {
  patches = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
      if (init?.method === "PATCH") {
        patches.push(body);
        return Response.json({ ...GROUP, ...(body as object) });
      }
      return Response.json(url.startsWith("/api/resource-groups") ? [GROUP] : []);
    }),
  );
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

// Plain selectors: role and label queries walk the whole (large) dialog and are slow in jsdom.
const editButton = () => document.querySelector('button[aria-label="Edit gpu"]') as HTMLElement;
function saveButton(): HTMLElement {
  const button = document.querySelector(".ant-modal-footer .ant-btn-primary") as HTMLElement | null;
  if (!button || button.textContent !== "Save") throw new Error("no Save button yet");
  return button;
}
function input(label: string): HTMLElement {
  const found = document.querySelector(`input[aria-label="${label}"]`) as HTMLElement | null;
  if (!found) throw new Error(`no input ${label} yet`);
  return found;
}

describe("a resource group's idle settings", () => {
  it("are listed, kept when their section stays folded, and edited when opened", async () => {
    render(
      <App>
        <GroupsPage />
      </App>,
    );
    const cell = await screen.findByTestId("group-idle-gpu");
    expect(cell.textContent).toBe("lifetime 1didle 30mutilization cpu 5% (or)grace 10mwarn 5m");

    // Saved without opening the section: the settings go back unchanged.
    fireEvent.click(editButton());
    await act(async () => {
      fireEvent.click(await waitFor(saveButton));
    });
    await waitFor(() => expect(patches).toHaveLength(1));
    expect(patches[0]).toMatchObject({
      max_session_lifetime: 86400,
      idle_timeout: 1800,
      utilization_window: null,
      grace_period: 600,
      utilization_thresholds: { cpu: 5 },
      utilization_combine: "or",
      warn_before: 300,
    });

    // Opened: a memory threshold and a shorter network timeout.
    fireEvent.click(editButton());
    const header = await waitFor(() => screen.getByTestId("idle-settings").querySelector(".ant-collapse-header") as HTMLElement);
    fireEvent.click(header);
    const mem = await waitFor(() => input("Memory threshold"));
    fireEvent.change(mem, { target: { value: "10" } });
    fireEvent.change(input("Network idle timeout (minutes)"), { target: { value: "15" } });
    await act(async () => {
      fireEvent.click(saveButton());
    });
    await waitFor(() => expect(patches).toHaveLength(2));
    expect(patches[1]).toMatchObject({ idle_timeout: 900, utilization_thresholds: { cpu: 5, mem: 10 } });
  }, 60000);
});
