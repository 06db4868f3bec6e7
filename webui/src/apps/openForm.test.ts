import { describe, expect, it } from "vitest";
import { ApiError, errorFrom } from "../api";
import {
  DEFAULT_OPTIONS,
  openFieldOf,
  openNotes,
  preferredPortError,
  splitApiError,
  sshCommands,
  toOpenBody,
  validateOptions,
} from "./openForm";

describe("validateOptions", () => {
  it("accepts the defaults", () => {
    expect(validateOptions(DEFAULT_OPTIONS)).toEqual({});
  });

  it("checks allowed IPs only when the app is opened to the public", () => {
    const bad = { ...DEFAULT_OPTIONS, allowedIps: "nope" };
    expect(validateOptions(bad)).toEqual({});
    expect(validateOptions({ ...bad, public: true }).allowed_ips).toMatch(/"nope" is not an IPv4/);
  });

  it("checks the preferred port only when trying one", () => {
    expect(validateOptions({ ...DEFAULT_OPTIONS, port: 80 })).toEqual({});
    expect(validateOptions({ ...DEFAULT_OPTIONS, tryPort: true, port: 80 }).preferred_port).toBe(
      "the port must be a whole number from 1024 to 65535",
    );
    expect(validateOptions({ ...DEFAULT_OPTIONS, tryPort: true }).preferred_port).toBe("enter a port number");
    expect(validateOptions({ ...DEFAULT_OPTIONS, tryPort: true, port: 10005 })).toEqual({});
  });

  it("checks the log directory when one is asked for", () => {
    expect(validateOptions(DEFAULT_OPTIONS, "  ").logdir).toBe("enter the log directory");
    expect(validateOptions(DEFAULT_OPTIONS, "logs").logdir).toMatch(/^must be an absolute path/);
    expect(validateOptions(DEFAULT_OPTIONS, "/home/work/logs")).toEqual({});
  });
});

describe("preferredPortError", () => {
  it.each([1024, 8080, 65535])("accepts %d", (p) => expect(preferredPortError(p)).toBeNull());
  it.each([0, 1023, 65536, 8080.5, NaN])("rejects %d", (p) => expect(preferredPortError(p)).not.toBeNull());
});

describe("toOpenBody", () => {
  it("sends nothing of the options that are off", () => {
    expect(toOpenBody({ public: false, allowedIps: "10.0.0.1", tryPort: false, port: 10005 })).toEqual({
      public: false,
      allowed_ips: [],
      preferred_port: null,
      logdir: null,
    });
  });

  it("sends the public IP list (without repeats), the port and the trimmed log directory", () => {
    expect(
      toOpenBody({ public: true, allowedIps: "10.0.0.1, 10.0.0.0/8 10.0.0.1", tryPort: true, port: 10005 }, " /logs "),
    ).toEqual({ public: true, allowed_ips: ["10.0.0.1", "10.0.0.0/8"], preferred_port: 10005, logdir: "/logs" });
  });
});

describe("server refusals", () => {
  it("finds the field of a 422 item, also inside a list", () => {
    expect(openFieldOf("allowed_ips.1")).toBe("allowed_ips");
    expect(openFieldOf("preferred_port")).toBe("preferred_port");
    expect(openFieldOf("logdir")).toBe("logdir");
    expect(openFieldOf("public")).toBeNull();
    expect(openFieldOf("")).toBeNull();
  });

  it("puts FastAPI 422 items at their fields and the rest in the alert", () => {
    const error = errorFrom(422, {
      detail: [
        { loc: ["body", "allowed_ips", 0], msg: "not a valid IPv4 or IPv6 network", type: "value_error" },
        { loc: ["body", "preferred_port"], msg: "Input should be less than or equal to 65535", type: "x" },
        { loc: ["body", "bogus"], msg: "Extra inputs are not permitted", type: "extra_forbidden" },
      ],
    });
    expect(splitApiError(error)).toEqual({
      fields: {
        allowed_ips: "not a valid IPv4 or IPv6 network",
        preferred_port: "Input should be less than or equal to 65535",
      },
      general: "bogus: Extra inputs are not permitted",
    });
  });

  it("shows a plain detail in the alert", () => {
    const error = errorFrom(409, { detail: "the session is not RUNNING (it is TERMINATING)" });
    expect(splitApiError(error)).toEqual({ fields: {}, general: "the session is not RUNNING (it is TERMINATING)" });
    expect(splitApiError(new ApiError(0, "cannot reach the Berth manager"))).toEqual({
      fields: {},
      general: "cannot reach the Berth manager",
    });
  });

  it("maps a 'field: message' detail to its field", () => {
    const error = errorFrom(409, { detail: "logdir: no such directory in the session" });
    expect(splitApiError(error)).toEqual({ fields: { logdir: "no such directory in the session" }, general: null });
  });
});

describe("sshCommands", () => {
  it("builds ssh and sftp commands with the key file", () => {
    expect(sshCommands({ host: "gpu1.example.com", port: 10022, user: "work" })).toEqual({
      ssh: "ssh -i id_container -p 10022 work@gpu1.example.com",
      sftp: "sftp -i id_container -P 10022 work@gpu1.example.com",
    });
  });

  it("brackets an IPv6 host for sftp", () => {
    expect(sshCommands({ host: "::1", port: 10022, user: "work" }).sftp).toBe("sftp -i id_container -P 10022 work@[::1]");
  });
});

describe("openNotes", () => {
  const cmd = "ssh -i id_container -p 10101 work@127.0.0.1";
  it("drops the ssh command the SSH panel shows anyway", () => {
    expect(openNotes({ message: cmd, ssh: {} }, cmd)).toBe("");
    expect(openNotes({ message: `${cmd} Port 10005 is not free; the app is on port 10101.`, ssh: {} }, cmd)).toBe(
      "Port 10005 is not free; the app is on port 10101.",
    );
  });
  it("keeps other messages as they are", () => {
    expect(openNotes({ message: " Jupyter is on port 10102. ", ssh: null }, null)).toBe("Jupyter is on port 10102.");
  });
});
