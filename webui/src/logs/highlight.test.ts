import { describe, expect, it } from "vitest";
import { countMatches, logFileName, splitMatches } from "./highlight";

describe("log search", () => {
  it("splits text into matches, case-insensitively", () => {
    expect(splitMatches("Error: error!", "error")).toEqual([
      { text: "Error", match: true },
      { text: ": ", match: false },
      { text: "error", match: true },
      { text: "!", match: false },
    ]);
  });

  it("treats the query literally", () => {
    expect(countMatches("a.b a+b (x)", ".")).toBe(1);
    expect(countMatches("a.b a+b (x)", "(x)")).toBe(1);
    expect(countMatches("abc", "")).toBe(0);
  });

  it("makes safe file names", () => {
    expect(logFileName("my job", "main1")).toBe("my_job-main1-logs.txt");
  });
});
