import { describe, expect, it } from "vitest";
import { closeReason, inputFrame, resizeFrame, serverError, terminalSocketUrl } from "./terminal";

describe("terminal protocol", () => {
  it("connects to the same origin with ws or wss", () => {
    expect(terminalSocketUrl({ protocol: "http:", host: "berth:8090" }, "abc", 80, 24)).toBe(
      "ws://berth:8090/api/sessions/abc/terminal?cols=80&rows=24",
    );
    expect(terminalSocketUrl({ protocol: "https:", host: "berth.example.com" }, "a b", 120, 40)).toBe(
      "wss://berth.example.com/api/sessions/a%20b/terminal?cols=120&rows=40",
    );
  });

  it("frames input and resizes as JSON text", () => {
    expect(JSON.parse(inputFrame("ls\r"))).toEqual({ type: "input", data: "ls\r" });
    expect(JSON.parse(inputFrame("\u0002c"))).toEqual({ type: "input", data: "\u0002c" });
    expect(JSON.parse(resizeFrame(100, 30))).toEqual({ type: "resize", cols: 100, rows: 30 });
  });

  it("reads the server's error frame and nothing else", () => {
    expect(serverError('{"type":"error","message":"the session is not RUNNING"}')).toBe("the session is not RUNNING");
    expect(serverError('{"type":"error"}')).toBe("terminal error");
    expect(serverError('{"type":"output"}')).toBeNull();
    expect(serverError("not json")).toBeNull();
    expect(serverError("null")).toBeNull();
  });

  it("explains a close: the server's message, then the reason, then the code", () => {
    expect(closeReason(1011, "x", "tmux is missing")).toBe("tmux is missing");
    expect(closeReason(4403, "not your session", null)).toBe("not your session");
    expect(closeReason(1006, "", null)).toBe("the connection was lost");
    expect(closeReason(4999, "", null)).toBe("the connection closed (code 4999)");
  });
});
