import { describe, expect, it } from "vitest";
import type { KernelUsage, UsagePoint } from "../types";
import { cpuText, hasAccelerator, listUsage, memText, rateText, scaleMax, seriesOf, sparkPath } from "./usage";

const point = (patch: Partial<UsagePoint>): UsagePoint => ({
  at: "2024-01-01T00:00:00Z",
  cpu_percent: 10,
  mem_bytes: 512 * 2 ** 20,
  mem_limit: 2 ** 30,
  ...patch,
});

describe("usage texts", () => {
  it("words CPU, memory and rates, '-' when unknown", () => {
    expect(cpuText(35.4)).toBe("35%");
    expect(cpuText(200)).toBe("200%");
    expect(cpuText(null)).toBe("-");
    expect(memText(512 * 2 ** 20, 2 ** 30)).toBe("512 MiB of 1 GiB");
    expect(memText(512 * 2 ** 20, null)).toBe("512 MiB");
    expect(memText(null, 2 ** 30)).toBe("-");
    expect(rateText(1536)).toBe("1.5 KiB/s");
    expect(rateText(0)).toBe("0 B/s");
    expect(rateText(undefined)).toBe("-");
  });
  it("gives the list's cells for a RUNNING session with figures only", () => {
    const usage = { at: "2024-01-01T00:00:00Z", cpu_percent: 150, mem_bytes: 2 ** 30, mem_limit: 2 ** 31 };
    expect(listUsage({ status: "RUNNING", usage })).toEqual({ cpu: "150%", mem: "1 GiB" });
    expect(listUsage({ status: "RUNNING", usage: null })).toBeNull();
    expect(listUsage({ status: "TERMINATED", usage })).toBeNull();
  });
  it("finds accelerator figures in any sample", () => {
    const k = (series: UsagePoint[]): KernelUsage => ({ kernel_id: "k", role: "main", latest: series.at(-1) ?? null, series });
    expect(hasAccelerator(k([point({})]))).toBe(false);
    expect(hasAccelerator(k([point({ accel_percent: 0 }), point({})]))).toBe(true);
  });
});

describe("sparklines", () => {
  it("picks one figure per sample, null where unknown", () => {
    expect(seriesOf([point({}), point({ cpu_percent: null }), point({ cpu_percent: Number.NaN })], (p) => p.cpu_percent)).toEqual([10, null, null]);
  });
  it("scales to the largest value, at least the floor, never 0", () => {
    expect(scaleMax([[1, 5, null], [7]])).toBe(7);
    expect(scaleMax([[1, 5]], 100)).toBe(100);
    expect(scaleMax([[0, null]])).toBe(1);
  });
  it("draws evenly spaced points, 0 at the bottom and max at the top", () => {
    expect(sparkPath([0, 50, 100], 100, 21, 100)).toBe("M 0 20.5 L 50 10.5 L 100 0.5");
  });
  it("clamps values outside the scale", () => {
    expect(sparkPath([-5, 500], 10, 11, 100)).toBe("M 0 10.5 L 10 0.5");
  });
  it("breaks the line at gaps and shows a lone value as a short stroke", () => {
    expect(sparkPath([10, null, 10, 10], 30, 11, 10)).toBe("M 0 0.5 L 5 0.5 M 20 0.5 L 30 0.5");
    expect(sparkPath([5], 96, 11, 10)).toBe("M 0 5.5 L 2 5.5");
  });
  it("draws nothing without values", () => {
    expect(sparkPath([], 96, 22, 1)).toBe("");
    expect(sparkPath([null, null], 96, 22, 1)).toBe("");
  });
});
