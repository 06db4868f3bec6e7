import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Kernel, SessionUsage, UsagePoint } from "../types";
import UsageBlock from "./UsageBlock";

const point = (patch: Partial<UsagePoint>): UsagePoint => ({
  at: "2024-01-01T00:00:00Z",
  cpu_percent: 35,
  mem_bytes: 512 * 2 ** 20,
  mem_limit: 2 ** 30,
  net_rx_rate: 2048,
  net_tx_rate: 512,
  io_read_rate: 0,
  io_write_rate: 1024,
  ...patch,
});

const kernels = [{ id: "k1", cluster_hostname: "main1" }] as unknown as Kernel[];

const usage = (series: UsagePoint[]): SessionUsage => ({
  session_id: "s1",
  interval: 5,
  kernels: [{ kernel_id: "k1", role: "main", latest: series.at(-1) ?? null, series }],
});

afterEach(cleanup);

describe("UsageBlock", () => {
  it("shows the newest figures with a sparkline each", () => {
    render(<UsageBlock usage={usage([point({ cpu_percent: 10 }), point({})])} kernels={kernels} failed={false} />);
    expect(screen.getByTestId("usage-cpu-value").textContent).toBe("35%");
    expect(screen.getByTestId("usage-mem-value").textContent).toBe("512 MiB of 1 GiB");
    expect(screen.getByTestId("usage-net-value").textContent).toBe("↓ 2 KiB/s ↑ 512 B/s");
    expect(screen.getByTestId("usage-io-value").textContent).toBe("R 0 B/s W 1 KiB/s");
    expect(screen.queryByTestId("usage-accel")).toBeNull();
    expect(screen.getAllByTestId("sparkline")).toHaveLength(4);
  });
  it("adds the accelerator when the kernel has figures for it", () => {
    render(
      <UsageBlock usage={usage([point({ accel_percent: 12, accel_mem_bytes: 2 ** 30 })])} kernels={kernels} failed={false} />,
    );
    expect(screen.getByTestId("usage-accel-value").textContent).toBe("12% · 1 GiB");
  });
  it("says so before the first sample and when the figures cannot be loaded", () => {
    const { rerender } = render(<UsageBlock usage={usage([])} kernels={kernels} failed={false} />);
    expect(screen.getByText("No sample yet.")).toBeTruthy();
    rerender(<UsageBlock usage={null} kernels={kernels} failed />);
    expect(screen.getByTestId("session-usage-empty").textContent).toBe("Usage is not available right now.");
  });
});
