import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Session, SessionDetail } from "../types";
import { AGENT_LOST_HELP } from "./AgentCell";
import SessionDetails from "./SessionDetails";
import SessionTable from "./SessionTable";

function session(agent_status: Session["agent_status"]): SessionDetail {
  return {
    id: "s1",
    name: "work",
    type: "interactive",
    status: "RUNNING",
    status_info: "",
    status_data: {},
    status_changed_at: "2024-01-01T00:00:00Z",
    result: "UNDEFINED",
    exit_code: null,
    image: "berth/python:3.11",
    owner_id: "u1",
    owner_email: "u@example.com",
    creator_id: "u1",
    project: "default",
    resource_group: "default",
    agent_id: "agent-a",
    agent_status,
    requested: { cpu: "1", mem: "1073741824" },
    environ: {},
    startup_command: null,
    starts_at: null,
    timeout_seconds: null,
    preopen_ports: [],
    cluster_mode: "single-node",
    cluster_size: 1,
    created_at: "2024-01-01T00:00:00Z",
    started_at: "2024-01-01T00:00:01Z",
    terminated_at: null,
    kernels: [],
    history: [],
  } as unknown as SessionDetail;
}

function table(s: Session) {
  return render(
    <SessionTable
      items={[s]}
      total={1}
      loading={false}
      view={{ tab: "all", state: "running", name: "", page: 1, size: 20, sort: "created", order: "desc", session: null } as never}
      showOwner={false}
      selected={[]}
      empty={null}
      onSelect={() => undefined}
      onView={() => undefined}
      onOpen={() => undefined}
      userId="u1"
      onApps={() => undefined}
    />,
  );
}

afterEach(cleanup);

describe("agent lost", () => {
  it("tags a session whose agent is LOST in the table, with a tooltip saying what it means", async () => {
    table(session("LOST"));
    const row = screen.getByText("agent-a").closest("tr") as HTMLElement;
    const tag = within(row).getByText("agent lost");
    fireEvent.mouseEnter(tag);
    await waitFor(() => expect(screen.getByText(AGENT_LOST_HELP)).toBeTruthy());
  });

  it("tags it in the detail panel", () => {
    render(<SessionDetails session={session("LOST")} onInfo={() => undefined} />);
    const details = screen.getByTestId("session-details");
    expect(within(details).getByText("agent-a")).toBeTruthy();
    expect(within(details).getByText("agent lost")).toBeTruthy();
  });

  it("shows no tag while the agent is ALIVE or unknown", () => {
    table(session("ALIVE"));
    render(<SessionDetails session={session(null)} onInfo={() => undefined} />);
    expect(screen.getAllByText("agent-a")).toHaveLength(2);
    expect(screen.queryByText("agent lost")).toBeNull();
  });
});

describe("accelerator column", () => {
  it("appears only when a session on the page asked for an accelerator, with its amount", () => {
    const { unmount } = table(session("ALIVE"));
    expect(screen.queryAllByText("Accelerator")).toHaveLength(0);
    unmount();
    const gpu = session("ALIVE");
    gpu.requested = { ...gpu.requested, "mock-gpu.shares": "0.5" };
    table(gpu);
    expect(screen.getAllByText("Accelerator").length).toBeGreaterThan(0);
    expect(screen.getAllByText("0.5 of a mock-gpu device").length).toBeGreaterThan(0);
  });
});
