import { describe, expect, it } from "vitest";
import { EMPTY_IDLE, idleBody, idleProblem, idleSummary, idleValues, splitIdle, thresholdsText, type IdleFormValues } from "./idle";

const form = (patch: Partial<IdleFormValues>): IdleFormValues => ({ ...EMPTY_IDLE, ...patch });

describe("idle settings of groups and policies", () => {
  it("sends nothing set as nulls (a policy then takes its group's)", () => {
    expect(idleBody(EMPTY_IDLE, false)).toEqual({
      utilization_window: null,
      grace_period: null,
      utilization_thresholds: null,
      utilization_combine: null,
      warn_before: null,
    });
  });
  it("converts minutes and hours to seconds; 0 stays 0 (off)", () => {
    const body = idleBody(
      form({ idle_lifetime_hours: 2, idle_timeout_minutes: 0, idle_window_minutes: 30, idle_grace_minutes: 0.5, idle_warn_minutes: 5 }),
      true,
    );
    expect(body).toMatchObject({ max_session_lifetime: 7200, idle_timeout: 0, utilization_window: 1800, grace_period: 30, warn_before: 300 });
  });
  it("sends the thresholds given, {} for a policy's off, null for a group's off", () => {
    const on = form({ idle_utilization: "on", idle_cpu: 5, idle_accel: 1, idle_combine: "or" });
    expect(idleBody(on, false)).toMatchObject({ utilization_thresholds: { cpu: 5, accel: 1 }, utilization_combine: "or" });
    expect(idleBody(form({ idle_utilization: "off", idle_cpu: 5 }), false).utilization_thresholds).toEqual({});
    expect(idleBody(form({ idle_utilization: "off" }), true).utilization_thresholds).toBeNull();
  });
  it("reads the settings back into the form", () => {
    const values = form({ idle_utilization: "on", idle_cpu: 5, idle_mem: 10, idle_combine: "and", idle_window_minutes: 60, idle_warn_minutes: 5 });
    const { idle_lifetime_hours: _l, idle_timeout_minutes: _t, ...policyForm } = values;
    expect(idleValues(idleBody(values, false), false)).toEqual(policyForm);
    const group = form({ idle_lifetime_hours: 24, idle_timeout_minutes: 30, idle_utilization: "off" });
    expect(idleValues(idleBody(group, true), true)).toEqual(group);
    expect(idleValues({ utilization_thresholds: {} }, false).idle_utilization).toBe("off");
    expect(idleValues({ utilization_thresholds: null }, false).idle_utilization).toBe("inherit");
  });
  it("asks for a threshold when the check is on", () => {
    expect(idleProblem(form({ idle_utilization: "on" }))?.field).toBe("idle_cpu");
    expect(idleProblem(form({ idle_utilization: "on", idle_mem: 3 }))).toBeNull();
    expect(idleProblem(form({ idle_utilization: "off" }))).toBeNull();
  });
  it("splits a dialog's values into idle fields and the rest", () => {
    const { idle, rest } = splitIdle({ name: "g", idle_cpu: 5 });
    expect(rest).toEqual({ name: "g" });
    expect(idle).toEqual(form({ idle_cpu: 5 }));
  });
  it("summarises what is set for the tables", () => {
    const s = { max_session_lifetime: 86400, idle_timeout: 0, utilization_thresholds: { cpu: 5, mem: 10 }, utilization_combine: "or", warn_before: 300 };
    expect(idleSummary(s, (x) => `${x}s`)).toEqual(["lifetime 86400s", "idle off", "utilization cpu 5% · mem 10% (or)", "warn 300s"]);
    expect(idleSummary({}, String)).toEqual([]);
    expect(thresholdsText({ utilization_thresholds: {} })).toBe("off");
  });
});
