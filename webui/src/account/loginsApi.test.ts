import { describe, expect, it } from "vitest";
import { browserName } from "./loginsApi";

describe("browserName", () => {
  it("names common browsers and systems", () => {
    const chrome =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    expect(browserName(chrome)).toBe("Chrome on Linux");
    expect(browserName("Mozilla/5.0 (Windows NT 10.0; rv:121.0) Gecko/20100101 Firefox/121.0")).toBe(
      "Firefox on Windows",
    );
    expect(browserName("")).toBe("Unknown browser");
    expect(browserName("TestBrowser/1.0")).toBe("TestBrowser/1.0");
  });
});
