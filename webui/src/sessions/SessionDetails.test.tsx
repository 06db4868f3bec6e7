import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { SessionDetail } from "../types";
import SessionDetails from "./SessionDetails";

const session = (mounts: unknown[]): SessionDetail =>
  ({
    id: "s1",
    name: "work",
    type: "interactive",
    status: "RUNNING",
    status_info: "",
    status_data: {},
    result: "UNDEFINED",
    image: "berth/python:3.11",
    owner_email: "u@example.com",
    project: "default",
    resource_group: "default",
    agent_id: "agent-a",
    agent_status: "ALIVE",
    requested: { cpu: "1", mem: "1073741824" },
    environ: {},
    preopen_ports: [],
    cluster_mode: "single-node",
    cluster_size: 1,
    created_at: "2024-01-01T00:00:00Z",
    started_at: "2024-01-01T00:00:01Z",
    terminated_at: null,
    timeout_seconds: null,
    kernels: [],
    history: [],
    mounts,
  }) as unknown as SessionDetail;

afterEach(cleanup);

describe("SessionDetails mounts", () => {
  it("lists each folder with its path and mode", () => {
    render(
      <SessionDetails
        session={session([
          { folder_id: "f1", folder: "data", path: "/home/work/data", mode: "rw" },
          { folder_id: "f2", folder: ".cfg", path: "/home/work/.cfg", mode: "ro" },
        ])}
        onInfo={() => undefined}
      />,
    );
    const list = screen.getByTestId("session-mounts");
    expect(within(list).getByText("data")).toBeTruthy();
    expect(within(list).getByText("/home/work/data")).toBeTruthy();
    expect(within(list).getByText("rw")).toBeTruthy();
    expect(within(list).getByText("/home/work/.cfg")).toBeTruthy();
    expect(within(list).getByText("ro")).toBeTruthy();
  });
  it("says when only the scratch home is there", () => {
    render(<SessionDetails session={session([])} onInfo={() => undefined} />);
    expect(screen.getByText("none (scratch home only)")).toBeTruthy();
  });
});

describe("SessionDetails accelerators", () => {
  const withDevices = (kernels: unknown[], requested: Record<string, string>, size = 1): SessionDetail =>
    ({ ...session([]), kernels, requested: { cpu: "1", mem: "1073741824", ...requested }, cluster_size: size }) as unknown as SessionDetail;
  const kernel = (host: string, accelerators: unknown[], extra: Record<string, unknown> = {}) => ({
    id: `k-${host}`,
    role: host.startsWith("main") ? "main" : "sub",
    cluster_hostname: host,
    agent_id: "agent-a",
    container_id: null,
    status: "RUNNING",
    status_info: "",
    exit_code: null,
    app_ports: [],
    accelerators,
    started_at: null,
    terminated_at: null,
    ...extra,
  });

  it("shows the requested amount and the device a share is on", () => {
    render(
      <SessionDetails
        session={withDevices(
          [kernel("main1", [{ slot_prefix: "mock-gpu", mode: "shares", devices: { "0": "0.5" } }])],
          { "mock-gpu.shares": "0.5" },
        )}
        onInfo={() => undefined}
      />,
    );
    expect(screen.getByTestId("requested-accelerator").textContent).toBe("Accelerator 0.5 of a mock-gpu device");
    expect(screen.getByTestId("session-devices").textContent).toBe("mock-gpu: 0.5 of device 0");
  });

  it("names each kernel's whole devices in a cluster, with live figures when sent", () => {
    render(
      <SessionDetails
        session={withDevices(
          [
            kernel("main1", [{ slot_prefix: "cuda", mode: "whole", devices: { "0": "1", "1": "1" } }], {
              devices: [
                { plugin: "cuda", id: "0", mode: "whole", amount: "1", model: "A100", memory: 16 * 2 ** 30, utilization: 35.4, memory_used: 2 * 2 ** 30 },
              ],
            }),
            kernel("sub1", [{ slot_prefix: "cuda", mode: "whole", devices: { "10": "1", "2": "1" } }]),
          ],
          { "cuda.device": "2" },
          2,
        )}
        onInfo={() => undefined}
      />,
    );
    expect(screen.getByTestId("requested-accelerator").textContent).toBe("Accelerator 2 cuda devices per kernel");
    const devices = within(screen.getByTestId("session-devices"));
    expect(devices.getByText("cuda: devices 0, 1 (whole)")).toBeTruthy();
    expect(devices.getByText("cuda: devices 2, 10 (whole)")).toBeTruthy();
    expect(devices.getByText("main1")).toBeTruthy();
    expect(devices.getByText("cuda device 0 (A100): 35% busy, 2 GiB of 16 GiB used")).toBeTruthy();
  });

  it("has no devices row when no kernel holds one", () => {
    render(<SessionDetails session={withDevices([kernel("main1", [])], {})} onInfo={() => undefined} />);
    expect(screen.queryByTestId("session-devices")).toBeNull();
    expect(screen.queryByTestId("requested-accelerator")).toBeNull();
  });
});
