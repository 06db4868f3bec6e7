import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { App } from "antd";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api";
import { usagePercent } from "./AgentsPage";
import PoliciesPage, { policyBody, policyValues } from "./PoliciesPage";
import ProjectsPage from "./ProjectsPage";
import { applyErrors } from "./shared";
import type { Policy } from "./types";

const GIB = 2 ** 30;

describe("policy form <-> API body", () => {
  const empty = {
    name: "p",
    description: "",
    cpu: null,
    memGiB: null,
    max_concurrent_sessions: null,
    max_pending_sessions: null,
    max_containers_per_session: null,
    lifetimeHours: null,
    idleMinutes: null,
    max_folders: null,
    max_customized_images: null,
  };
  it("sends an empty limit as unlimited (null, or a slot left out)", () => {
    expect(policyBody(empty)).toEqual({
      name: "p",
      description: "",
      total_slots: {},
      max_concurrent_sessions: null,
      max_pending_sessions: null,
      max_containers_per_session: null,
      max_session_lifetime: null,
      idle_timeout: null,
      max_folders: null,
      max_customized_images: null,
    });
  });
  it("converts GiB, hours and minutes, and back", () => {
    const values = { ...empty, cpu: 8, memGiB: 16, lifetimeHours: 2, idleMinutes: 30, max_folders: 0 };
    const body = policyBody(values);
    expect(body.total_slots).toEqual({ cpu: "8", mem: String(16 * GIB) });
    expect(body.max_session_lifetime).toBe(7200);
    expect(body.idle_timeout).toBe(1800);
    expect(body.max_folders).toBe(0); // zero is a limit, not unlimited
    expect(policyValues(body as Policy)).toEqual(values);
  });
});

describe("usagePercent", () => {
  it("is the share in use, bounded, 0 without a capacity", () => {
    expect(usagePercent("1", "4")).toBe(25);
    expect(usagePercent("5", "4")).toBe(100);
    expect(usagePercent("1", "0")).toBe(0);
    expect(usagePercent(undefined, undefined)).toBe(0);
  });
});

describe("applyErrors", () => {
  it("puts each message on the form field its server path maps to", () => {
    const form = { setFields: vi.fn() };
    const error = new ApiError(422, "x", [
      { field: "total_slots.cpu", message: "must be a number" },
      { field: "name", message: "is taken" },
    ]);
    const left = applyErrors(form as never, error, { "total_slots.cpu": "cpu", name: "name" });
    expect(left).toBeNull();
    expect(form.setFields).toHaveBeenCalledWith([
      { name: "cpu", errors: ["must be a number"] },
      { name: "name", errors: ["is taken"] },
    ]);
  });
  it("leaves what no field takes to the alert", () => {
    const form = { setFields: vi.fn() };
    const error = new ApiError(409, "policy 'p' is in use", []);
    expect(applyErrors(form as never, error, ["name"])).toBe("policy 'p' is in use");
    expect(applyErrors(form as never, new Error("offline"), ["name"])).toBe("offline");
  });
});

// ---- pages against a stubbed API ----------------------------------------------------------
let calls: { method: string; url: string; body: unknown }[] = [];
let answer: (method: string, url: string, body: unknown) => Response;

beforeEach(() => {
  calls = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? "GET";
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
      calls.push({ method, url, body });
      return answer(method, url, body);
    }),
  );
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("PoliciesPage", () => {
  it("shows the empty state, and a server refusal at the field it names", async () => {
    answer = (method, url) => {
      if (method === "GET" && url.startsWith("/api/resource-policies")) return Response.json([]);
      if (method === "POST" && url === "/api/resource-policies") {
        return Response.json(
          { detail: [{ loc: ["body", "total_slots", "cpu"], msg: "must be more than 0", type: "value_error" }] },
          { status: 422 },
        );
      }
      return Response.json([]);
    };
    render(
      <App>
        <PoliciesPage />
      </App>,
    );
    expect(await screen.findByText("No policies yet: every user and project is unlimited.")).toBeTruthy();
    fireEvent.click(screen.getAllByRole("button", { name: /New policy/ })[0]);
    fireEvent.change(screen.getByLabelText("Name", { selector: "input" }), { target: { value: "tiny" } });
    fireEvent.change(screen.getByLabelText("CPU total (cores)"), { target: { value: "0" } });
    await act(async () => {
      fireEvent.click(screen.getByRole("button", { name: "Create" }));
    });
    await waitFor(() => expect(screen.getByText("must be more than 0")).toBeTruthy());
    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toMatchObject({ name: "tiny", total_slots: { cpu: "0" }, max_concurrent_sessions: null });
    const item = screen.getByText("must be more than 0").closest(".ant-form-item") as HTMLElement;
    expect(item.textContent).toMatch(/CPU total/);
  }, 60000);
});

describe("ProjectsPage", () => {
  it("lists projects with their policy (or unlimited) and member counts", async () => {
    answer = (_method, url) => {
      if (url.startsWith("/api/projects")) {
        return Response.json([
          { id: "1", name: "vision", description: "lab", is_active: true, resource_policy: "small", members_count: 3 },
          { id: "2", name: "nlp", description: "", is_active: false, resource_policy: null, members_count: 0 },
        ]);
      }
      return Response.json([]);
    };
    render(
      <App>
        <ProjectsPage />
      </App>,
    );
    expect(await screen.findByText("vision")).toBeTruthy();
    const table = within(document.querySelector(".ant-table") as HTMLElement);
    expect(table.getByText("small")).toBeTruthy();
    expect(table.getByText("unlimited")).toBeTruthy();
    expect(table.getByText("inactive")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Members of vision" }).textContent).toBe("3");
  }, 30000);
});
