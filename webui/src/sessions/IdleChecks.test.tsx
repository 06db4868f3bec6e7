import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { IdleInfo } from "../types";
import IdleChecks from "./IdleChecks";

const idle: IdleInfo = {
  evaluated_at: "2024-01-01T00:00:00Z",
  combine: "and",
  grace_period: 600,
  warn_before: 300,
  checks: [
    {
      check: "session-lifetime",
      enabled: true,
      limit: 7200,
      remaining: 1800,
      remaining_text: "30m 00s",
      deadline: "2024-01-01T00:30:00Z",
      reached: false,
      urgency: "red",
      warn: false,
      detail: {},
    },
    {
      check: "network-timeout",
      enabled: false,
      limit: null,
      remaining: null,
      remaining_text: "-",
      deadline: null,
      reached: false,
      urgency: null,
      warn: false,
      detail: { reason: "batch sessions are exempt" },
    },
    {
      check: "utilization",
      enabled: true,
      limit: 3600,
      remaining: 0,
      remaining_text: "time reached, checking…",
      deadline: "2024-01-01T00:00:00Z",
      reached: true,
      urgency: "red",
      warn: true,
      detail: { phase: "measuring" },
    },
  ],
  utilization: [
    { resource: "cpu", threshold: 5, average: 5.5, covered: 1, coverage: "full", level: "near" },
    { resource: "mem", threshold: 10, average: 2, covered: 1, coverage: "full", level: "below" },
    { resource: "accel", threshold: 1, average: null, covered: 0, coverage: "none", level: null },
  ],
};

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("IdleChecks", () => {
  it("shows each check's time, coloured, and '-' for one that does not apply", () => {
    vi.useFakeTimers();
    const loadedAt = Date.now();
    render(<IdleChecks idle={idle} loadedAt={loadedAt} />);
    const lifetime = screen.getByTestId("idle-remaining-session-lifetime");
    expect(lifetime.textContent).toBe("30m 00s");
    expect(lifetime.dataset.urgency).toBe("red");
    const network = screen.getByTestId("idle-check-network-timeout");
    expect(screen.getByTestId("idle-remaining-network-timeout").textContent).toBe("-");
    expect(network.textContent).toContain("off (batch sessions are exempt)");
    expect(screen.getByTestId("idle-remaining-utilization").textContent).toBe("time reached, checking…");
    // The lifetime counts down while the panel is open.
    act(() => void vi.advanceTimersByTime(5000));
    expect(lifetime.textContent).toBe("29m 55s");
  });
  it("gives the utilization check a tooltip of averages against thresholds", async () => {
    render(<IdleChecks idle={idle} loadedAt={Date.now()} />);
    fireEvent.mouseEnter(screen.getByTestId("idle-utilization-value"));
    const tip = await screen.findByTestId("idle-utilization-tooltip");
    expect(tip.textContent).toContain("CPU: 5.5% / 5%");
    expect(screen.getByTestId("idle-resource-cpu").dataset.level).toBe("near");
    expect(screen.getByTestId("idle-resource-mem").textContent).toContain("Memory: 2% / 10%");
    expect(screen.getByTestId("idle-resource-mem").dataset.level).toBe("below");
    expect(screen.getByTestId("idle-resource-accel").textContent).toContain("Accelerator: no data / 1%");
    expect(tip.textContent).toContain("every resource with data");
  });
});
