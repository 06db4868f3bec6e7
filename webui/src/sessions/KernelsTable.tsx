import { FileTextOutlined } from "@ant-design/icons";
import { Button, Table, Tooltip, Typography } from "antd";
import { formatTime } from "../format";
import type { Kernel } from "../types";
import StatusTag from "./StatusTag";

interface Props {
  kernels: Kernel[];
  /** Whether logs can exist yet (a PENDING session has none). */
  logsReady: boolean;
  onLogs: (kernel: Kernel) => void;
}

export default function KernelsTable({ kernels, logsReady, onLogs }: Props) {
  return (
    <Table<Kernel>
      size="small"
      rowKey="id"
      pagination={false}
      dataSource={kernels}
      scroll={{ x: 640 }}
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
