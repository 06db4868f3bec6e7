import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Kernel } from "../types";
import KernelsTable, { allocationText, kernelAllocations } from "./KernelsTable";

const kernel = (host: string, accelerators: unknown[]): Kernel =>
  ({
    id: `k-${host}`,
    role: "main",
    cluster_hostname: host,
    agent_id: "agent-a",
    container_id: "abcdef0123456789",
    status: "RUNNING",
    status_info: "",
    exit_code: null,
    app_ports: [],
    accelerators,
    started_at: null,
    terminated_at: null,
  }) as unknown as Kernel;

afterEach(cleanup);

describe("kernel devices", () => {
  it("says which device a share is on, and which devices are held whole", () => {
    expect(allocationText([{ slot_prefix: "mock-gpu", mode: "shares", devices: { "0": "0.5" } }])).toEqual([
      "mock-gpu: 0.5 of device 0",
    ]);
    expect(allocationText([{ slot_prefix: "cuda", mode: "whole", devices: { "1": "1", "0": "1" } }])).toEqual([
      "cuda: devices 0, 1 (whole)",
    ]);
    expect(allocationText([{ slot_prefix: "cuda", mode: "whole", devices: { "3": "1" } }])).toEqual(["cuda: device 3 (whole)"]);
  });
  it("leaves out what is not an allocation", () => {
    expect(kernelAllocations({ accelerators: [{ mode: "whole" }, { slot_prefix: "x", devices: { a: "1" } }] })).toEqual([
      { slot_prefix: "x", mode: "whole", devices: { a: "1" } },
    ]);
  });
  it("adds a Devices column only when a kernel holds devices", () => {
    const { unmount } = render(<KernelsTable kernels={[kernel("main1", [])]} logsReady onLogs={() => undefined} />);
    const headers = () => screen.getAllByRole("columnheader").map((h) => h.textContent);
    expect(headers()).not.toContain("Devices");
    unmount();
    render(
      <KernelsTable
        kernels={[kernel("main1", [{ slot_prefix: "mock-gpu", mode: "shares", devices: { "1": "0.3" } }])]}
        logsReady
        onLogs={() => undefined}
      />,
    );
    expect(headers()).toContain("Devices");
    expect(screen.getByTestId("kernel-devices-main1").textContent).toBe("mock-gpu: 0.3 of device 1");
  });
});
