import { describe, expect, it } from "vitest";
import { elapsedMs, environmentLabel, formatBytes, formatCpu, formatDuration, formatSeconds, plural } from "./format";

describe("format", () => {
  it("sizes in binary units", () => {
    expect(formatBytes("1073741824")).toBe("1 GiB");
    expect(formatBytes(1610612736)).toBe("1.5 GiB");
    expect(formatBytes("67108864")).toBe("64 MiB");
    expect(formatBytes(undefined)).toBe("-");
  });

  it("says an environment's version once", () => {
    expect(environmentLabel("Python 3.11", "3.11")).toBe("Python 3.11"); // not "Python 3.11 3.11"
    expect(environmentLabel("C++ (GCC 12)", "gcc12")).toBe("C++ (GCC 12)");
    expect(environmentLabel("R", "4.4")).toBe("R 4.4");
    expect(environmentLabel("Python", "")).toBe("Python");
  });

  it("puts a counted word in the right number", () => {
    expect(plural(1, "session")).toBe("1 session");
    expect(plural(0, "session")).toBe("0 sessions");
    expect(plural(3, "kernel")).toBe("3 kernels");
  });

  it("cpu cores", () => {
    expect(formatCpu("1")).toBe("1 core");
    expect(formatCpu("0.5")).toBe("0.5 cores");
    expect(formatCpu("2.000")).toBe("2 cores");
  });

  it("durations", () => {
    expect(formatDuration(45_000)).toBe("45s");
    expect(formatDuration(185_000)).toBe("3m 05s");
    expect(formatDuration(7_380_000)).toBe("2h 03m");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe("3d 04h");
    expect(formatDuration(-5)).toBe("0s");
  });

  it("timeouts in the largest whole unit", () => {
    expect(formatSeconds(3600)).toBe("1h");
    expect(formatSeconds(90)).toBe("90s");
    expect(formatSeconds(1800)).toBe("30m");
    expect(formatSeconds(null)).toBe("-");
  });

  it("elapsed from start to end, or to now while running", () => {
    const s = {
      created_at: "2024-01-01T00:00:00Z",
      started_at: "2024-01-01T00:00:10Z",
      terminated_at: null,
    };
    expect(elapsedMs(s, Date.parse("2024-01-01T00:01:10Z"))).toBe(60_000);
    expect(elapsedMs({ ...s, terminated_at: "2024-01-01T00:00:40Z" }, 0)).toBe(30_000);
    expect(elapsedMs({ ...s, started_at: null }, Date.parse("2024-01-01T00:00:05Z"))).toBe(5000);
  });
});
