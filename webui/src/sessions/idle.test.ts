import { describe, expect, it } from "vitest";
import type { IdleCheck, IdleResource } from "../types";
import {
  checkView,
  COLOR,
  combineText,
  coveredText,
  formatPercent,
  formatRemaining,
  phaseText,
  REACHED_TEXT,
  resourceLine,
  urgencyOf,
} from "./idle";

const check = (patch: Partial<IdleCheck>): IdleCheck => ({
  check: "session-lifetime",
  enabled: true,
  limit: 86400,
  remaining: 7200,
  remaining_text: "2h 00m",
  deadline: "2024-01-01T02:00:00Z",
  reached: false,
  urgency: "orange",
  warn: false,
  detail: {},
  ...patch,
});

const resource = (patch: Partial<IdleResource>): IdleResource => ({
  resource: "cpu",
  threshold: 5,
  average: 42,
  covered: 1,
  coverage: "full",
  level: "ok",
  ...patch,
});

describe("formatRemaining (as the manager's format_remaining)", () => {
  it.each([
    [null, "-"],
    [0, REACHED_TEXT],
    [-3, REACHED_TEXT],
    [0.2, "1s"],
    [45, "45s"],
    [59.01, "1m 00s"],
    [750, "12m 30s"],
    [3600, "1h 00m"],
    [4 * 3600 + 5 * 60, "4h 05m"],
    [2 * 86400 + 3 * 3600 + 59, "2d 03h"],
  ])("%s s -> %s", (seconds, text) => {
    expect(formatRemaining(seconds)).toBe(text);
  });
});

describe("urgencyOf", () => {
  it("is red under an hour, orange under four, else none", () => {
    expect(urgencyOf(null)).toBeNull();
    expect(urgencyOf(0)).toBe("red");
    expect(urgencyOf(3599.9)).toBe("red");
    expect(urgencyOf(3600)).toBe("orange");
    expect(urgencyOf(4 * 3600 - 1)).toBe("orange");
    expect(urgencyOf(4 * 3600)).toBeNull();
  });
});

describe("checkView", () => {
  it("counts a deadline check down from when it was loaded, and recolours it", () => {
    const c = check({ remaining: 3605 });
    expect(checkView(c, 0)).toMatchObject({ state: "counting", text: "1h 00m", urgency: "orange" });
    expect(checkView(c, 10)).toMatchObject({ state: "counting", text: "59m 55s", urgency: "red" });
  });
  it("reads 'time reached, checking…' past zero, and when the manager says so", () => {
    expect(checkView(check({ remaining: 5, check: "network-timeout" }), 6)).toMatchObject({ state: "reached", text: REACHED_TEXT });
    expect(checkView(check({ remaining: 0, reached: true }), 0).text).toBe(REACHED_TEXT);
  });
  it("shows the utilization check as loaded (a lower bound, not a deadline)", () => {
    const c = check({ check: "utilization", remaining: 3000, urgency: "red" });
    expect(checkView(c, 600)).toMatchObject({ state: "counting", text: "50m 00s", urgency: "red" });
    expect(checkView(check({ check: "utilization", remaining: 20000, urgency: null }), 0).urgency).toBeNull();
  });
  it("is off with its reason when it does not apply", () => {
    const off = check({ enabled: false, remaining: null, remaining_text: "-", urgency: null, detail: { reason: "batch sessions are exempt" } });
    expect(checkView(off, 100)).toEqual({ state: "off", text: "-", urgency: null, reason: "batch sessions are exempt" });
    expect(checkView(check({ enabled: false, remaining: null, detail: {} }), 0).reason).toBeNull();
  });
  it("gives no colour to a time four hours away or more", () => {
    expect(checkView(check({ remaining: 5 * 3600 }), 0).urgency).toBeNull();
  });
});

describe("resourceLine", () => {
  it("shows the average against the threshold, plain when well above", () => {
    expect(resourceLine(resource({}))).toEqual({ label: "CPU", text: "CPU: 42% / 5%", color: null, note: null });
  });
  it("is yellow near the threshold and red below it", () => {
    expect(resourceLine(resource({ average: 5.5, level: "near" })).color).toBe(COLOR.yellow);
    expect(resourceLine(resource({ resource: "accel", average: 0.25, level: "below", threshold: 1 }))).toMatchObject({
      text: "Accelerator: 0.25% / 1%",
      color: COLOR.red,
    });
  });
  it("says 'no data' in grey without figures (ignored, never 0)", () => {
    const line = resourceLine(resource({ resource: "mem", average: null, coverage: "none", covered: 0, level: null, threshold: 10 }));
    expect(line).toMatchObject({ text: "Memory: no data / 10%", color: COLOR.grey });
  });
  it("notes a partly covered window", () => {
    expect(resourceLine(resource({ coverage: "partial", covered: 0.4 })).note).toBe("data for 40% of the window: no verdict yet");
    expect(resourceLine(resource({ coverage: "partial", covered: 0.004 })).note).toBe("data for under 1% of the window: no verdict yet");
    expect(coveredText(0.999)).toBe("99%");
  });
});

describe("small texts", () => {
  it("formats percentages", () => {
    expect(formatPercent(12.345)).toBe("12%");
    expect(formatPercent(3)).toBe("3%");
    expect(formatPercent(2.55)).toBe("2.5%");
    expect(formatPercent(0.123)).toBe("0.12%");
  });
  it("words the combine rule and the phase", () => {
    expect(combineText("and")).toMatch(/every resource/);
    expect(combineText("or")).toMatch(/any resource/);
    expect(combineText(null)).toBeNull();
    expect(phaseText(check({ check: "utilization", detail: { phase: "grace" } }))).toBe("in grace period");
    expect(phaseText(check({ check: "utilization", detail: { phase: "measuring" } }))).toBeNull();
  });
});
