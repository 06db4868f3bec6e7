import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { SessionDetail } from "../types";
import StatusInfoModal from "./StatusInfoModal";

const base = {
  id: "s1",
  name: "job",
  type: "batch",
  status: "PENDING",
  status_info: "no-available-resources",
  status_data: {},
  status_changed_at: "2024-01-01T00:00:00Z",
  result: "UNDEFINED",
  exit_code: null,
  kernels: [],
  history: [],
} as unknown as SessionDetail;

describe("StatusInfoModal", () => {
  it("shows the scheduler's checks of a PENDING session", () => {
    const session = {
      ...base,
      status_data: {
        scheduler: {
          tries: 3,
          last_try: "2024-01-01T00:00:09Z",
          message: "no agent has enough free resources",
          checks: [
            { name: "agent-available", passed: true, message: "1 agent(s) alive" },
            { name: "agent-resources", passed: false, message: "short of cpu 1.0" },
          ],
        },
      },
    };
    render(<StatusInfoModal session={session} open onClose={() => undefined} />);
    expect(screen.getByText(/no agent has enough free resources$/)).toBeTruthy();
    expect(screen.getByText("agent-resources")).toBeTruthy();
    expect(screen.getByText("short of cpu 1.0")).toBeTruthy();
    expect(screen.getByText("3")).toBeTruthy();
  });

  it("shows the exit code, and the error with where it happened", () => {
    const session = {
      ...base,
      status: "ERROR",
      status_info: "failed-to-start",
      exit_code: 3,
      status_data: { error: "the engine refused the container", where: "agent a1" },
    } as unknown as SessionDetail;
    render(<StatusInfoModal session={session} open onClose={() => undefined} />);
    expect(screen.getByText("Exit code")).toBeTruthy();
    expect(screen.getByText("the engine refused the container")).toBeTruthy();
    expect(screen.getByText("Where: agent a1")).toBeTruthy();
  });
});
