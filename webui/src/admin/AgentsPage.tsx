// Admin: agents — status, resource group (movable), capacity and usage bars, last heartbeat,
// version, and whether new sessions may go there (schedulable).
import { App, Progress, Select, Space, Switch, Tag, Tooltip, Typography } from "antd";
import { useEffect } from "react";
import { formatBytes, formatCpu, formatDuration, formatTime } from "../format";
import { useNow } from "../useNow";
import { adminApi } from "./adminApi";
import { AdminListPage, useList } from "./shared";
import type { AdminAgent } from "./types";

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
