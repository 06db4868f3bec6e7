import { describe, expect, it } from "vitest";
import {
  commitBlocker,
  commitFinished,
  commitNameError,
  customizedName,
  phaseText,
  progressStatus,
  progressText,
} from "./commit";

describe("commitNameError (the server's rule: 4-32 of letters, digits, '-', '_')", () => {
  it.each(["abcd", "my-env_1", "ABC_def-123", "x".repeat(32), "----"])("accepts %s", (name) => {
    expect(commitNameError(name)).toBeNull();
  });

  it("rejects lengths outside 4..32 and says how long it is", () => {
    expect(commitNameError("abc")).toMatch(/4 to 32 .*got 3 characters/);
    expect(commitNameError("x".repeat(33))).toMatch(/got 33 characters/);
    expect(commitNameError("")).toMatch(/got 0/);
  });

  it.each(["my env", "a.b.c", "naïve", "tab\tname", "x/yz", "name:1"])("rejects %j", (name) => {
    expect(commitNameError(name)).toBe("may contain only letters, digits, '-' and '_'");
  });
});

describe("progress text", () => {
  const task = { status: "running", phase: "committing", progress: 20, size: null, reason: "" };

  it("names the phase and the percent", () => {
    expect(progressText(task)).toBe("Saving the container · 20%");
    expect(progressText({ ...task, phase: "preparing", progress: 5 })).toBe("Preparing · 5%");
    expect(progressText({ ...task, phase: "scrubbing", progress: 85 })).toBe("Removing Berth's files · 85%");
  });

  it("adds the size once known", () => {
    expect(progressText({ ...task, status: "done", phase: "done", progress: 100, size: 1536 * 2 ** 20 })).toBe(
      "Done · 100% · 1.5 GiB",
    );
  });

  it("says a pending task waits for the agent; a failed one shows no percent", () => {
    expect(phaseText({ status: "pending", phase: "preparing" })).toBe("Waiting for the agent");
    expect(progressText({ ...task, status: "failed", phase: "failed", progress: 100 })).toBe("Failed");
  });

  it("keeps an unknown phase as it is and rounds the percent", () => {
    expect(progressText({ ...task, phase: "pushing", progress: 33.4 })).toBe("pushing · 33%");
  });

  it("finished and bar status", () => {
    expect(commitFinished({ status: "running" })).toBe(false);
    expect(commitFinished({ status: "pending" })).toBe(false);
    expect(commitFinished({ status: "done" })).toBe(true);
    expect(commitFinished({ status: "failed" })).toBe(true);
    expect(progressStatus({ status: "running" })).toBe("active");
    expect(progressStatus({ status: "done" })).toBe("success");
    expect(progressStatus({ status: "failed" })).toBe("exception");
  });
});

describe("commitBlocker", () => {
  const s = { type: "interactive", status: "RUNNING", owner_id: "u1" };
  it("allows the owner of a RUNNING interactive session", () => {
    expect(commitBlocker(s, "u1")).toBeNull();
  });
  it("says why otherwise (batch first)", () => {
    expect(commitBlocker({ ...s, type: "batch", owner_id: "u2" }, "u1")).toMatch(/^Batch sessions cannot/);
    expect(commitBlocker(s, "u2")).toMatch(/owner/);
    expect(commitBlocker({ ...s, status: "PENDING" }, "u1")).toMatch(/this one is PENDING/);
  });
});

describe("customizedName", () => {
  it("reads the label, null for other images", () => {
    expect(customizedName({ labels: { "berth.customized-name": "my-env" } })).toBe("my-env");
    expect(customizedName({ labels: {} })).toBeNull();
    expect(customizedName({})).toBeNull();
  });
});
