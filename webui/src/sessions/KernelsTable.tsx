import { FileTextOutlined } from "@ant-design/icons";
import { Button, Space, Table, Tooltip, Typography } from "antd";
import { formatBytes, formatTime } from "../format";
import type { Kernel } from "../types";
import StatusTag from "./StatusTag";

/** What a kernel holds of one accelerator plugin (KernelOut.accelerators): whole devices, or a
 * fraction of one device (`devices`: device id -> amount, "1" for whole). */
export interface KernelAllocation {
  slot_prefix: string;
  mode: "whole" | "shares";
  devices: Record<string, string>;
}

/** A device a kernel holds with its agent's last figures (KernelOut.devices, when the manager
 * sends them). */
export interface KernelDevice {
  plugin: string;
  id: string;
  model?: string;
  memory?: number;
  utilization?: number | null;
  memory_used?: number | null;
}

/** Device ids in order: digit runs by value ("2" before "10"). */
const byId = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });

/** A kernel's allocations, leaving out what is not one (the API types them loosely). */
export function kernelAllocations(k: Pick<Kernel, "accelerators">): KernelAllocation[] {
  return (k.accelerators ?? []).flatMap((a) => {
    const x = a as Partial<KernelAllocation>;
    if (typeof x.slot_prefix !== "string" || !x.devices || typeof x.devices !== "object") return [];
    return [{ slot_prefix: x.slot_prefix, mode: x.mode === "shares" ? "shares" : "whole", devices: x.devices }];
  });
}

/** "mock-gpu: 0.5 of device 0", "cuda: devices 0, 1 (whole)", "cuda: device 1 (whole)". */
export function allocationText(list: KernelAllocation[]): string[] {
  return list.flatMap((a) => {
    const ids = Object.keys(a.devices).sort(byId);
    if (a.mode === "shares") return ids.map((id) => `${a.slot_prefix}: ${Number(a.devices[id])} of device ${id}`);
    return [`${a.slot_prefix}: ${ids.length === 1 ? "device" : "devices"} ${ids.join(", ")} (whole)`];
  });
}

/** The live figures of a kernel's devices, when the manager sends them: "cuda device 0 (A100):
 * 35% busy, 2 GiB of 16 GiB used" (the whole device's, all its kernels together). */
export function deviceFigures(k: Kernel): { key: string; text: string }[] {
  const list = (k as Kernel & { devices?: unknown }).devices;
  if (!Array.isArray(list)) return [];
  return (list as KernelDevice[])
    .filter((d) => d && typeof d.id === "string")
    .map((d) => {
      const memory = d.memory ? formatBytes(d.memory) : "";
      const live = [
        typeof d.utilization === "number" ? `${Math.round(d.utilization)}% busy` : "",
        typeof d.memory_used === "number"
          ? `${formatBytes(d.memory_used)}${memory ? ` of ${memory}` : ""} used`
          : memory,
      ].filter(Boolean);
      return {
        key: `${d.plugin}/${d.id}`,
        text: `${d.plugin} device ${d.id}${d.model ? ` (${d.model})` : ""}${live.length ? `: ${live.join(", ")}` : ""}`,
      };
    });
}

/** A kernel's devices, one line each, with the live figures beneath when known and asked for. */
export function KernelDevices({ kernel, figures: withFigures = true }: { kernel: Kernel; figures?: boolean }) {
  const lines = allocationText(kernelAllocations(kernel));
  if (!lines.length) return <Typography.Text type="secondary">none</Typography.Text>;
  const figures = withFigures ? deviceFigures(kernel) : [];
  return (
    <Space direction="vertical" size={0} data-testid={`kernel-devices-${kernel.cluster_hostname}`}>
      {lines.map((l) => (
        <span key={l}>{l}</span>
      ))}
      {figures.map((f) => (
        <Typography.Text
          key={f.key}
          type="secondary"
          style={{ fontSize: 12 }}
          title="The whole device's figures (all kernels on it), from the agent's last report"
        >
          {f.text}
        </Typography.Text>
      ))}
    </Space>
  );
}

interface Props {
  kernels: Kernel[];
  /** Whether logs can exist yet (a PENDING session has none). */
  logsReady: boolean;
  onLogs: (kernel: Kernel) => void;
}

export default function KernelsTable({ kernels, logsReady, onLogs }: Props) {
  // A column for the devices only when some kernel holds one.
  const withDevices = kernels.some((k) => kernelAllocations(k).length > 0);
  return (
    <Table<Kernel>
      size="small"
      rowKey="id"
      pagination={false}
      dataSource={kernels}
      scroll={{ x: withDevices ? 860 : 640 }}
      columns={[
        {
          title: "Hostname",
          dataIndex: "cluster_hostname",
          render: (host: string, k) => (
            <span style={{ whiteSpace: "nowrap" }}>
              {host}{" "}
              <Tooltip title={logsReady ? "Show logs" : "No logs before the kernel starts"}>
                <Button
                  size="small"
                  icon={<FileTextOutlined />}
                  disabled={!logsReady}
                  onClick={() => onLogs(k)}
                  data-testid={`kernel-log-${host}`}
                >
                  Log
                </Button>
              </Tooltip>
            </span>
          ),
        },
        { title: "Role", dataIndex: "role", width: 70 },
        {
          title: "Status",
          dataIndex: "status",
          width: 140,
          render: (_: string, k) => <StatusTag status={k.status} info={k.status_info} />,
        },
        {
          title: "Container",
          dataIndex: "container_id",
          width: 130,
          render: (c: string | null) =>
            c ? (
              <Typography.Text code copyable={{ text: c }}>
                {c.slice(0, 12)}
              </Typography.Text>
            ) : (
              "-"
            ),
        },
        { title: "Agent", dataIndex: "agent_id", render: (a: string | null) => a ?? "-" },
        ...(withDevices
          ? [
              {
                title: "Devices",
                key: "devices",
                width: 210,
                render: (_: unknown, k: Kernel) => <KernelDevices kernel={k} figures={false} />,
              },
            ]
          : []),
        {
          title: "Started",
          dataIndex: "started_at",
          width: 170,
          render: (t: string | null) => formatTime(t),
        },
      ]}
    />
  );
}
