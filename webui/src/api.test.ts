import { describe, expect, it } from "vitest";
import { buildUrl, errorFrom } from "./api";

describe("errorFrom", () => {
  it("maps 422 details to fields without the body/query prefix", () => {
    const err = errorFrom(422, {
      detail: [
        { loc: ["body", "name"], msg: "must not contain spaces" },
        { loc: ["body", "resources", "mem"], msg: "must be a size" },
      ],
    });
    expect(err.status).toBe(422);
    expect(err.fieldMessage("name")).toBe("must not contain spaces");
    expect(err.fieldMessage("resources.mem")).toBe("must be a size");
    expect(err.message).toContain("name: must not contain spaces");
  });

  it("maps 'field: message' conflict texts to the field", () => {
    const err = errorFrom(409, { detail: "name: another active session is already named 'x'" });
    expect(err.fieldMessage("name")).toBe("another active session is already named 'x'");
  });

  it("keeps plain messages", () => {
    const err = errorFrom(403, { detail: "only the owner may rename a session" });
    expect(err.fields).toEqual([]);
    expect(err.message).toBe("only the owner may rename a session");
    expect(errorFrom(500, null).message).toBe("request failed (500)");
  });
});

describe("buildUrl", () => {
  it("drops empty values", () => {
    expect(buildUrl("/api/sessions", { state: "running", name: "", type: undefined, limit: 20 }))
      .toBe("/api/sessions?state=running&limit=20");
    expect(buildUrl("/api/x")).toBe("/api/x");
  });
});
