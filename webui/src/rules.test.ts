import { describe, expect, it } from "vitest";
import { sessionNameError } from "./rules";

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
