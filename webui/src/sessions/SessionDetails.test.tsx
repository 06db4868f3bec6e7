import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { SessionDetail } from "../types";
import SessionDetails from "./SessionDetails";

const session = (mounts: unknown[]): SessionDetail =>
  ({
    id: "s1",
    name: "work",
    type: "interactive",
    status: "RUNNING",
    status_info: "",
    status_data: {},
    result: "UNDEFINED",
    image: "berth/python:3.11",
    owner_email: "u@example.com",
    project: "default",
    resource_group: "default",
    agent_id: "agent-a",
    agent_status: "ALIVE",
    requested: { cpu: "1", mem: "1073741824" },
    environ: {},
    preopen_ports: [],
    cluster_mode: "single-node",
    cluster_size: 1,
    created_at: "2024-01-01T00:00:00Z",
    started_at: "2024-01-01T00:00:01Z",
    terminated_at: null,
    timeout_seconds: null,
    kernels: [],
    history: [],
    mounts,
  }) as unknown as SessionDetail;

afterEach(cleanup);

describe("SessionDetails mounts", () => {
  it("lists each folder with its path and mode", () => {
    render(
      <SessionDetails
        session={session([
          { folder_id: "f1", folder: "data", path: "/home/work/data", mode: "rw" },
          { folder_id: "f2", folder: ".cfg", path: "/home/work/.cfg", mode: "ro" },
        ])}
        onInfo={() => undefined}
      />,
    );
    const list = screen.getByTestId("session-mounts");
    expect(within(list).getByText("data")).toBeTruthy();
    expect(within(list).getByText("/home/work/data")).toBeTruthy();
    expect(within(list).getByText("rw")).toBeTruthy();
    expect(within(list).getByText("/home/work/.cfg")).toBeTruthy();
    expect(within(list).getByText("ro")).toBeTruthy();
  });
  it("says when only the scratch home is there", () => {
    render(<SessionDetails session={session([])} onInfo={() => undefined} />);
    expect(screen.getByText("none (scratch home only)")).toBeTruthy();
  });
});
