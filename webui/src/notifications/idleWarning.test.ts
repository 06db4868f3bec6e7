import { describe, expect, it } from "vitest";
import { isMine, warningKey, warningText, warningTitle } from "./idleWarning";

const e = {
  session_id: "s1",
  name: "work",
  owner_id: "u1",
  creator_id: "a1",
  check: "network-timeout" as const,
  remaining: 300,
};

describe("idle warning notice", () => {
  it("is for the owner or the creator only", () => {
    expect(isMine(e, "u1")).toBe(true);
    expect(isMine(e, "a1")).toBe(true);
    expect(isMine(e, "other")).toBe(false);
  });
  it("has one key per session and check", () => {
    expect(warningKey(e)).toBe("idle-s1-network-timeout");
    expect(warningKey({ ...e, check: "utilization" })).not.toBe(warningKey(e));
  });
  it("names the session and the check", () => {
    expect(warningTitle(e)).toBe("Session work: Network idle timeout");
    expect(warningTitle({ ...e, check: "session-lifetime" })).toBe("Session work: Max session lifetime");
  });
  it("counts the time left down from when it arrived", () => {
    expect(warningText(e, 0)).toMatch(/^Terminated in 5m 00s\. No traffic/);
    expect(warningText(e, 61)).toMatch(/^Terminated in 3m 59s\./);
    expect(warningText({ ...e, check: "utilization" }, 400)).toBe(
      "Time reached: it is being terminated. Its resources are barely used: use them to keep it.",
    );
  });
});
