import { describe, expect, it } from "vitest";
import {
  cpuLimitError,
  environError,
  envVariableError,
  memLimitError,
  sessionNameError,
  startsAtError,
  startupCommandError,
  timeoutError,
} from "./rules";

describe("sessionNameError (same rules as the server)", () => {
  it.each(["abcd", "my-session_1", "a.b-c_d", "_tmp", "x".repeat(64)])("accepts %s", (name) => {
    expect(sessionNameError(name)).toBeNull();
  });

  it("rejects lengths outside 4..64", () => {
    expect(sessionNameError("abc")).toMatch(/4 to 64/);
    expect(sessionNameError("x".repeat(65))).toMatch(/4 to 64/);
  });

  it("rejects spaces with its own message", () => {
    expect(sessionNameError("bad name")).toBe("must not contain spaces");
  });

  it.each(["-abc", "abc-", "ab.c.", "naïve-name", "a/bcd"])("rejects %s", (name) => {
    expect(sessionNameError(name)).toMatch(/ASCII letters/);
  });
});

describe("limits (same as src/berth/domain/limits.py)", () => {
  it("environment variables at and past their limits", () => {
    expect(envVariableError("N".repeat(256), "é".repeat(16384))).toEqual({});
    expect(envVariableError("N".repeat(257), "é".repeat(16384) + "x")).toEqual({
      name: "variable name must be at most 256 characters long",
      value: "value must be at most 32 KiB (UTF-8)",
    });
    const many = Array.from({ length: 256 }, (_, i) => ({ name: `V${i}`, value: "x" }));
    expect(environError(many)).toBeNull();
    expect(environError([...many, { name: "X", value: "x" }])).toBe("at most 256 variables are allowed");
    const big = Array.from({ length: 8 }, (_, i) => ({ name: `V${i}`, value: "x".repeat(32 * 1024) }));
    expect(environError(big)).toMatch(/^the variables must total at most 256 KiB/);
    expect(environError(big.slice(0, 7))).toBeNull();
  });

  it("startup command, timeout, start time, cpu and memory", () => {
    expect(startupCommandError("#".repeat(65536))).toBeNull();
    expect(startupCommandError("é".repeat(32769))).toBe("must be at most 64 KiB (UTF-8)");
    expect(timeoutError(365, "d")).toBeNull();
    expect(timeoutError(53, "w")).toBe("must be at most 365d");
    const now = Date.parse("2030-01-01T00:00:00Z");
    expect(startsAtError("2030-12-31T00:00:00Z", now)).toBeNull();
    expect(startsAtError("2031-01-02T00:00:00Z", now)).toMatch(/365 days in the future/);
    expect(startsAtError("2029-12-30T00:00:00Z", now)).toMatch(/1 day in the past/);
    expect(cpuLimitError(1024)).toBeNull();
    expect(cpuLimitError(1024.01)).toBe("must be at most 1024 cores");
    expect(memLimitError(64 * 2 ** 40)).toBeNull();
    expect(memLimitError(64 * 2 ** 40 + 1)).toBe("must be at most 64t");
  });
});
