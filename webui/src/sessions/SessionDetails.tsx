import { InfoCircleOutlined } from "@ant-design/icons";
import { Button, Descriptions, Space, Tag, Typography } from "antd";
import { useState } from "react";
import { formatBytes, formatCpu, formatSeconds, formatTime, timezoneName } from "../format";
import { acceleratorText, BASE_SLOTS } from "../launcher/resources";
import type { SessionDetail } from "../types";
import { AgentCell } from "./AgentCell";
import Elapsed from "./Elapsed";
import IdleChecks from "./IdleChecks";
import { KernelDevices, kernelAllocations } from "./KernelsTable";
import OutcomeTag from "./OutcomeTag";
import { queueInfo } from "./queue";
import StatusTag from "./StatusTag";

interface Props {
  session: SessionDetail;
  onInfo: () => void;
  /** When (browser time, ms) `session` was loaded: the idle checks count down from there. */
  loadedAt?: number;
}

/** The fields of the detail panel (everything but the name, kernels and history). */
export default function SessionDetails({ session: s, onInfo, loadedAt }: Props) {
  const [mountedAt] = useState(Date.now);
  const env = Object.entries(s.environ);
  // The folders mounted into the session, auto-mounted dot-folders included.
  const mounts = s.mounts ?? [];
  const queue = queueInfo(s);
  // The kernels holding accelerator devices (given when the session was scheduled).
  const holding = s.kernels.filter((k) => kernelAllocations(k).length > 0);
  return (
    <Descriptions
      bordered
      size="small"
      column={1}
      styles={{ label: { width: "min(170px, 32vw)" } }}
      data-testid="session-details"
    >
      <Descriptions.Item label="Session ID">
        <Typography.Text code copyable>
          {s.id}
        </Typography.Text>
      </Descriptions.Item>
      <Descriptions.Item label="Owner">
        {s.owner_email}
        {s.project && <Typography.Text type="secondary"> · project {s.project}</Typography.Text>}
      </Descriptions.Item>
      <Descriptions.Item label="Status">
        <Space wrap>
          <StatusTag status={s.status} />
          <Typography.Text type="secondary">{s.status_info}</Typography.Text>
          {queue.position !== null && <Tag data-testid="detail-queue-position">#{queue.position} in queue</Tag>}
          <Button size="small" icon={<InfoCircleOutlined />} onClick={onInfo}>
            Info
          </Button>
        </Space>
      </Descriptions.Item>
      <Descriptions.Item label="Type">
        <Space direction="vertical" size={4} style={{ width: "100%" }}>
          <span>
            {s.type === "batch" ? "Batch" : "Interactive"}{" "}
            <OutcomeTag session={s} />
          </span>
          {s.startup_command && (
            <pre className="command" data-testid="startup-command">
              {s.startup_command}
            </pre>
          )}
        </Space>
      </Descriptions.Item>
      <Descriptions.Item label="Environment">
        <Typography.Text code>{s.image}</Typography.Text>
      </Descriptions.Item>
      <Descriptions.Item label="Mounted folders">
        {mounts.length === 0 ? (
          <Typography.Text type="secondary">none (scratch home only)</Typography.Text>
        ) : (
          <Space direction="vertical" size={2} data-testid="session-mounts">
            {mounts.map((m) => (
              <span key={m.path} style={{ overflowWrap: "anywhere" }}>
                <Typography.Text strong>{m.folder}</Typography.Text> →{" "}
                <Typography.Text code>{m.path}</Typography.Text>{" "}
                <Tag color={m.mode === "ro" ? "orange" : "green"}>{m.mode}</Tag>
              </span>
            ))}
          </Space>
        )}
      </Descriptions.Item>
      <Descriptions.Item label="Requested resources">
        <Space wrap>
          <Tag>CPU {formatCpu(s.requested.cpu)}</Tag>
          <Tag>Memory {formatBytes(s.requested.mem)}</Tag>
          <Tag>Shared memory {formatBytes(s.requested.shmem)}</Tag>
          {Object.entries(s.requested)
            .filter(([k, v]) => !BASE_SLOTS.includes(k) && Number(v) > 0)
            .map(([k, v]) => (
              <Tag key={k} color="purple" title={k} data-testid="requested-accelerator" style={{ whiteSpace: "normal" }}>
                Accelerator {acceleratorText(k, Number(v))}
                {s.cluster_size > 1 ? " per kernel" : ""}
              </Tag>
            ))}
        </Space>
      </Descriptions.Item>
      {holding.length > 0 && (
        <Descriptions.Item label="Accelerator devices">
          <Space direction="vertical" size={4} data-testid="session-devices">
            {holding.map((k) =>
              holding.length === 1 && s.kernels.length === 1 ? (
                <KernelDevices key={k.id} kernel={k} />
              ) : (
                <Space key={k.id} align="start" size={6}>
                  <Typography.Text strong>{k.cluster_hostname}</Typography.Text>
                  <KernelDevices kernel={k} />
                </Space>
              ),
            )}
          </Space>
        </Descriptions.Item>
      )}
      <Descriptions.Item label="Resource group">{s.resource_group}</Descriptions.Item>
      <Descriptions.Item label="Agent">
        <AgentCell session={s} />
      </Descriptions.Item>
      <Descriptions.Item label="Cluster">
        {s.cluster_mode}, {s.cluster_size} kernel{s.cluster_size === 1 ? "" : "s"}
      </Descriptions.Item>
      <Descriptions.Item label={`Created (${timezoneName()})`}>{formatTime(s.created_at)}</Descriptions.Item>
      <Descriptions.Item label="Started">{formatTime(s.started_at)}</Descriptions.Item>
      {s.terminated_at && (
        <Descriptions.Item label="Ended">{formatTime(s.terminated_at)}</Descriptions.Item>
      )}
      <Descriptions.Item label="Elapsed">
        <Elapsed session={s} />
      </Descriptions.Item>
      {s.idle && (
        <Descriptions.Item label="Idle checks">
          <IdleChecks idle={s.idle} loadedAt={loadedAt ?? mountedAt} />
        </Descriptions.Item>
      )}
      {s.starts_at && (
        <Descriptions.Item label="Not before">{formatTime(s.starts_at)}</Descriptions.Item>
      )}
      {s.timeout_seconds !== null && (
        <Descriptions.Item label="Timeout">{formatSeconds(s.timeout_seconds)}</Descriptions.Item>
      )}
      <Descriptions.Item label="Environment variables">
        {env.length === 0 ? (
          <Typography.Text type="secondary">none</Typography.Text>
        ) : (
          <Space wrap>
            {env.map(([k, v]) => (
              <Typography.Text code key={k}>
                {k}={v}
              </Typography.Text>
            ))}
          </Space>
        )}
      </Descriptions.Item>
      <Descriptions.Item label="Preopen ports">
        {s.preopen_ports.length ? s.preopen_ports.join(", ") : <Typography.Text type="secondary">none</Typography.Text>}
      </Descriptions.Item>
    </Descriptions>
  );
}
