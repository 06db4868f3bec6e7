// Admin: agents — status, resource group (movable), capacity and usage bars, accelerator
// devices (per plugin: MOCK or not, each device's model, memory, utilization, memory used and
// what kernels hold of it; a plugin without devices says why), last heartbeat, version, and
// whether new sessions may go there (schedulable).
import { App, Progress, Select, Space, Switch, Tag, Tooltip, Typography } from "antd";
import { useEffect } from "react";
import { formatBytes, formatCpu, formatDuration, formatTime } from "../format";
import { useNow } from "../useNow";
import { adminApi } from "./adminApi";
import { AdminListPage, useList } from "./shared";
import type { AdminAgent } from "./types";

/** A device an accelerator plugin reports (AgentOut.info.accelerators[].devices). */
export interface AgentDevice {
  id: string;
  /** Bytes. */
  memory: number;
  model: string;
  /** Percent; null: not known. */
  utilization: number | null;
  /** Bytes; null: not known. */
  memory_used: number | null;
}

/** An accelerator plugin of an agent (AgentOut.info.accelerators): its devices, or why it has
 * none (`reason`). */
export interface AgentPlugin {
  name: string;
  devices: AgentDevice[];
  reason: string | null;
  mock: boolean;
}

/** What kernels hold of a device now (AgentOut.devices, admins). */
export interface DeviceUse {
  plugin: string;
  id: string;
  /** free, whole (one kernel holds it) or shared (shares). */
  state: string;
  shares_used: string;
  shares_free: string;
  kernels: string[];
}

/** The plugins an agent reports, leaving out what does not parse (info is loosely typed). */
export function agentPlugins(info: Record<string, unknown> | undefined): AgentPlugin[] {
  const list = info?.accelerators;
  if (!Array.isArray(list)) return [];
  return list.flatMap((p: Record<string, unknown>) => {
    if (!p || typeof p.name !== "string") return [];
    const devices = (Array.isArray(p.devices) ? p.devices : [])
      .filter((d: Record<string, unknown>) => d && (typeof d.id === "string" || typeof d.id === "number"))
      .map((d: Record<string, unknown>) => ({
        id: String(d.id),
        memory: Number(d.memory ?? 0),
        model: typeof d.model === "string" ? d.model : "",
        utilization: typeof d.utilization === "number" ? d.utilization : null,
        memory_used: typeof d.memory_used === "number" ? d.memory_used : null,
      }));
    return [{ name: p.name, devices, reason: typeof p.reason === "string" && p.reason ? p.reason : null, mock: p.mock === true }];
  });
}

/** "35% busy, 2 GiB used": what is known of a device's use now ("" when nothing is). */
export function deviceFigures(d: AgentDevice): string {
  const parts: string[] = [];
  if (d.utilization !== null) parts.push(`${Math.round(d.utilization)}% busy`);
  if (d.memory_used !== null) parts.push(`${formatBytes(d.memory_used)} used`);
  return parts.join(", ");
}

function UseTag({ use }: { use: DeviceUse | undefined }) {
  if (!use) return null;
  const held = use.kernels.length ? `held by ${use.kernels.join(", ")}` : undefined;
  if (use.state === "free") return <Tag color="green">free</Tag>;
  if (use.state === "whole") {
    return (
      <Tooltip title={held}>
        <Tag color="blue">whole</Tag>
      </Tooltip>
    );
  }
  return (
    <Tooltip title={held}>
      <Tag color="orange">shared: {Number(use.shares_used)} used</Tag>
    </Tooltip>
  );
}

/** An agent's accelerator plugins with their devices; "none" without any plugin. */
export function AgentDevices({ agent }: { agent: AdminAgent }) {
  const plugins = agentPlugins(agent.info);
  const uses = ((agent as AdminAgent & { devices?: DeviceUse[] }).devices ?? []).filter((u) => u && u.plugin);
  if (!plugins.length) return <Typography.Text type="secondary">none</Typography.Text>;
  return (
    <Space direction="vertical" size={4} style={{ minWidth: 220, maxWidth: 320 }} data-testid={`agent-devices-${agent.id}`}>
      {plugins.map((p) => {
        const whole = agent.capacity[`${p.name}.device`];
        // Devices no kernel holds any of: from the devices' use when sent (a device holding
        // shares is not free whole), else the agent's free count.
        const mine = uses.filter((u) => u.plugin === p.name);
        const freeWhole = mine.length
          ? mine.filter((u) => u.state === "free").length
          : Number(agent.free[`${p.name}.device`] ?? 0);
        return (
          <div key={p.name} data-testid="agent-plugin">
            <Space size={4} wrap>
              <Typography.Text strong>{p.name}</Typography.Text>
              {p.mock && (
                <Tooltip title="A mock plugin: devices for tests and demos, not hardware">
                  <Tag color="purple">MOCK</Tag>
                </Tooltip>
              )}
              {whole !== undefined && (
                <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                  {freeWhole} of {Number(whole)} free whole
                </Typography.Text>
              )}
            </Space>
            {p.devices.length === 0 ? (
              <div>
                <Typography.Text type="secondary">no devices{p.reason ? `: ${p.reason}` : ""}</Typography.Text>
              </div>
            ) : (
              p.devices.map((d) => (
                <div key={d.id} data-testid="agent-device" style={{ fontSize: 13 }}>
                  <Typography.Text code>{d.id}</Typography.Text> {d.model}
                  {d.memory > 0 && <Typography.Text type="secondary"> · {formatBytes(d.memory)}</Typography.Text>}{" "}
                  <UseTag use={uses.find((u) => u.plugin === p.name && u.id === d.id)} />
                  {deviceFigures(d) && (
                    <div>
                      <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                        {deviceFigures(d)}
                      </Typography.Text>
                    </div>
                  )}
                </div>
              ))
            )}
          </div>
        );
      })}
    </Space>
  );
}

/** Percent of a slot in use (0-100), for the usage bars. */
export function usagePercent(occupied: string | undefined, capacity: string | undefined): number {
  const cap = Number(capacity ?? 0);
  if (!(cap > 0)) return 0;
  return Math.min(100, Math.round((Number(occupied ?? 0) / cap) * 100));
}

function Usage({ agent, slot }: { agent: AdminAgent; slot: "cpu" | "mem" }) {
  const show = slot === "cpu" ? (v?: string) => formatCpu(v ?? "0") : (v?: string) => formatBytes(v ?? "0");
  const pct = usagePercent(agent.occupied[slot], agent.capacity[slot]);
  return (
    <Tooltip title={`${show(agent.occupied[slot])} of ${show(agent.capacity[slot])} in use; ${show(agent.free[slot])} free`}>
      <div style={{ minWidth: 160 }} data-testid={`usage-${slot}`}>
        <Typography.Text type="secondary" style={{ fontSize: 12 }}>
          {slot === "cpu" ? "CPU" : "Memory"} {show(agent.occupied[slot])} / {show(agent.capacity[slot])}
        </Typography.Text>
        <Progress percent={pct} size="small" status={pct >= 90 ? "exception" : "normal"} showInfo={false} />
      </div>
    </Tooltip>
  );
}

export default function AgentsPage() {
  const { message } = App.useApp();
  const list = useList(adminApi.agents);
  const groups = useList(adminApi.groups);
  const now = useNow(5000);
  // Heartbeats and usage change: refresh every 10 s.
  useEffect(() => {
    const t = window.setInterval(list.reload, 10000);
    return () => window.clearInterval(t);
  }, [list.reload]);

  const update = async (a: AdminAgent, body: { schedulable?: boolean; resource_group?: string }) => {
    try {
      await adminApi.updateAgent(a.id, body);
      message.success(
        body.schedulable !== undefined
          ? `${a.id} ${body.schedulable ? "takes new sessions" : "takes no new sessions"}`
          : `${a.id} moved to ${body.resource_group}`,
      );
      list.reload();
    } catch (e) {
      message.error(`Could not change ${a.id}: ${(e as Error).message}`);
    }
  };

  return (
    <AdminListPage<AdminAgent>
      testId="admin-agents"
      title="Agents"
      intro="The nodes that run sessions. An agent that is not schedulable keeps its sessions but takes no new ones."
      list={list}
      rowKey="id"
      loading={list.loading && list.data === null}
      emptyText="No agent has registered yet: start one with `berth agent`."
      columns={[
        { title: "Agent", dataIndex: "id", render: (id: string) => <strong>{id}</strong> },
        {
          title: "Status",
          dataIndex: "status",
          render: (s: string) => <Tag color={s === "ALIVE" ? "green" : s === "LOST" ? "red" : "default"}>{s}</Tag>,
        },
        {
          title: "Resource group",
          dataIndex: "resource_group",
          render: (g: string, a) => (
            <Select
              size="small"
              aria-label={`Resource group of ${a.id}`}
              value={g}
              style={{ minWidth: 120 }}
              options={(groups.data ?? [{ name: g }]).map((x) => ({ value: x.name, label: x.name }))}
              onChange={(next: string) => void update(a, { resource_group: next })}
            />
          ),
        },
        {
          title: "Capacity",
          key: "capacity",
          render: (_, a) => `${formatCpu(a.capacity.cpu)}, ${formatBytes(a.capacity.mem)}`,
        },
        {
          title: "Usage",
          key: "usage",
          render: (_, a) => (
            <Space direction="vertical" size={0}>
              <Usage agent={a} slot="cpu" />
              <Usage agent={a} slot="mem" />
            </Space>
          ),
        },
        {
          title: "Accelerators",
          key: "devices",
          render: (_, a) => <AgentDevices agent={a} />,
        },
        {
          title: "Last heartbeat",
          dataIndex: "last_heartbeat",
          render: (t: string) => (
            <Tooltip title={formatTime(t)}>
              <span>{formatDuration(Math.max(0, now - Date.parse(t)))} ago</span>
            </Tooltip>
          ),
        },
        { title: "Version", dataIndex: "version" },
        {
          title: "Schedulable",
          dataIndex: "schedulable",
          render: (s: boolean | undefined, a) => (
            <Switch
              aria-label={`Schedulable ${a.id}`}
              checked={s !== false}
              onChange={(v) => void update(a, { schedulable: v })}
            />
          ),
        },
      ]}
    />
  );
}
