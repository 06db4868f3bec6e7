import { describe, expect, it } from "vitest";
import { noticeKind, outcomeText, sessionOutcome, type OutcomeInput } from "./outcome";

const batch: OutcomeInput = { type: "batch", status: "TERMINATED", status_info: "task-finished", result: "SUCCESS", exit_code: 0 };
const interactive: OutcomeInput = { type: "interactive", status: "RUNNING", status_info: "started", result: "UNDEFINED", exit_code: null };

describe("sessionOutcome", () => {
  it("is null while the session has not ended", () => {
    expect(sessionOutcome(interactive)).toBeNull();
    expect(sessionOutcome({ ...interactive, status: "PENDING" })).toBeNull();
  });

  it("tells a batch success from a failure, with the exit code", () => {
    expect(outcomeText(sessionOutcome(batch)!)).toBe("Succeeded · exit 0");
    const failed = sessionOutcome({ ...batch, status_info: "task-failed", result: "FAILURE", exit_code: 3 })!;
    expect(failed.kind).toBe("failure");
    expect(outcomeText(failed)).toBe("Failed · exit 3");
    expect(sessionOutcome({ ...batch, status_info: "task-timeout", result: "UNDEFINED", exit_code: null })!.kind).toBe("failure");
  });

  it("calls an ERROR a failure and a cancellation neutral", () => {
    expect(sessionOutcome({ ...interactive, status: "ERROR", status_info: "failed-to-start" })!.kind).toBe("failure");
    expect(sessionOutcome({ ...interactive, status: "CANCELLED", status_info: "user-requested" })).toEqual({
      kind: "neutral",
      label: "Cancelled",
      exitCode: null,
    });
  });

  it("does not blame a session its user ended for the signal's exit code", () => {
    const ended = sessionOutcome({ ...interactive, status: "TERMINATED", status_info: "user-requested", exit_code: 137 })!;
    expect(ended.kind).toBe("success");
    expect(outcomeText(ended)).toBe("Ended");
  });

  it("judges a kernel that exited on its own by its exit code", () => {
    const self = { ...interactive, status: "TERMINATED" as const, status_info: "self-terminated" };
    expect(sessionOutcome({ ...self, exit_code: 0 })!.kind).toBe("success");
    expect(outcomeText(sessionOutcome({ ...self, exit_code: 2 })!)).toBe("Failed · exit 2");
    expect(sessionOutcome({ ...self, status_info: "kernel-died", exit_code: 0 })!.kind).toBe("failure");
  });
});

describe("noticeKind", () => {
  it("is progress while starting, success once running, the outcome after", () => {
    expect(noticeKind({ ...interactive, status: "PREPARING" })).toBe("progress");
    expect(noticeKind(interactive)).toBe("success");
    expect(noticeKind({ ...batch, status: "RUNNING", result: "UNDEFINED" })).toBe("success");
    expect(noticeKind({ ...batch, status: "ERROR", status_info: "failed-to-start" })).toBe("failure");
    expect(noticeKind({ ...interactive, status: "CANCELLED" })).toBe("neutral");
  });
});
