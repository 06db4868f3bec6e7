import { describe, expect, it } from "vitest";
import {
  baseName,
  entryNameError,
  folderNameError,
  isAutoMounted,
  joinPath,
  parentPath,
  pathCrumbs,
  relativePathError,
} from "./rules";

describe("folderNameError", () => {
  it("accepts names of letters, digits, '.', '_' and '-' up to 64 characters", () => {
    for (const name of ["a", "data", "my-set_2.0", ".config", "A".repeat(64), "..x"]) {
      expect(folderNameError(name)).toBeNull();
    }
  });

  it("names the rule a bad name breaks", () => {
    expect(folderNameError("")).toBe("enter a name");
    expect(folderNameError("a".repeat(65))).toMatch(/at most 64/);
    expect(folderNameError("my data")).toMatch(/no spaces/);
    expect(folderNameError("a/b")).toMatch(/ASCII letters/);
    expect(folderNameError("données")).toMatch(/ASCII letters/);
    expect(folderNameError(".")).toMatch(/not a folder name/);
    expect(folderNameError("..")).toMatch(/not a folder name/);
  });

  it("knows the auto-mounted dot-folders", () => {
    expect(isAutoMounted(".cache")).toBe(true);
    expect(isAutoMounted("cache")).toBe(false);
  });
});

describe("relativePathError", () => {
  it("accepts relative paths", () => {
    for (const path of ["a", "a/b.txt", "dir with spaces/ü.txt", ".hidden/x"]) {
      expect(relativePathError(path)).toBeNull();
    }
  });

  it("refuses what the server refuses", () => {
    expect(relativePathError("")).toBe("enter a path");
    expect(relativePathError("/etc/passwd")).toMatch(/leading '\/'/);
    expect(relativePathError("a/../b")).toMatch(/'\.\.'/);
    expect(relativePathError("./a")).toMatch(/'\.'/);
    expect(relativePathError("a//b/")).toBeNull(); // "a/b", as the server reads it
    expect(joinPath("a//b/")).toBe("a/b");
    expect(relativePathError("a\0b")).toMatch(/NUL/);
    expect(relativePathError("x".repeat(256))).toMatch(/255 bytes/);
    expect(relativePathError("é".repeat(128))).toMatch(/255 bytes/); // 256 bytes of UTF-8
    expect(relativePathError(Array(20).fill("y".repeat(250)).join("/"))).toMatch(/4096 bytes/);
  });

  it("wants a single name for a new entry", () => {
    expect(entryNameError("new")).toBeNull();
    expect(entryNameError("a/b")).toMatch(/without '\/'/);
  });
});

describe("path helpers", () => {
  it("joins, splits and trails paths", () => {
    expect(joinPath("", "a")).toBe("a");
    expect(joinPath("a/b", "c/d.txt")).toBe("a/b/c/d.txt");
    expect(joinPath("a/", "/b")).toBe("a/b");
    expect(parentPath("a/b/c")).toBe("a/b");
    expect(parentPath("a")).toBe("");
    expect(baseName("a/b/c.txt")).toBe("c.txt");
    expect(baseName("c")).toBe("c");
    expect(pathCrumbs("")).toEqual([]);
    expect(pathCrumbs("a/b")).toEqual([
      { name: "a", path: "a" },
      { name: "b", path: "a/b" },
    ]);
  });
});
