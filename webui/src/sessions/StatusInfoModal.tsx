import { CheckCircleTwoTone, CloseCircleTwoTone } from "@ant-design/icons";
import { Alert, Collapse, Descriptions, Modal, Space, Table, Typography } from "antd";
import { formatTime } from "../format";
import type { SessionDetail } from "../types";
import { describeReason } from "./reasons";
import StatusTag from "./StatusTag";

interface SchedulerCheck {
  name: string;
  passed: boolean;
  message: string;
}

interface SchedulerData {
  tries?: number;
  last_try?: string;
  message?: string;
  checks?: SchedulerCheck[];
  /** 1-based position among the PENDING sessions of its group. */
  position?: number;
}

const SHOWN = new Set(["scheduler", "exit_code", "error", "where", "final", "oom_killed"]);
const LABELS: Record<string, string> = { agent: "Agent", forced: "Forced" };

function plain(value: unknown): string {
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function SchedulerSection({ data }: { data: SchedulerData }) {
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      {data.message && <Alert type="warning" showIcon message={data.message} />}
      <Descriptions size="small" column={2} bordered>
        <Descriptions.Item label="Scheduling tries">{data.tries ?? 0}</Descriptions.Item>
        <Descriptions.Item label="Last try">{formatTime(data.last_try)}</Descriptions.Item>
        {typeof data.position === "number" && (
          <Descriptions.Item label="Position in queue">#{data.position}</Descriptions.Item>
        )}
      </Descriptions>
      <Table<SchedulerCheck>
        size="small"
        rowKey="name"
        pagination={false}
        dataSource={data.checks ?? []}
        columns={[
          {
            title: "Check",
            dataIndex: "name",
            width: 160,
          },
          {
            title: "Result",
            dataIndex: "passed",
            width: 90,
            render: (passed: boolean) =>
              passed ? (
                <Space>
                  <CheckCircleTwoTone twoToneColor="#52c41a" /> passed
                </Space>
              ) : (
                <Space>
                  <CloseCircleTwoTone twoToneColor="#ff4d4f" /> failed
                </Space>
              ),
          },
          { title: "Message", dataIndex: "message" },
        ]}
      />
    </Space>
  );
}

interface Props {
  session: SessionDetail | null;
  open: boolean;
  onClose: () => void;
}

/** The status reason and its data (scheduler checks, exit code, error) in words. */
export default function StatusInfoModal({ session, open, onClose }: Props) {
  if (!session) return null;
  const data = session.status_data ?? {};
  const scheduler = data.scheduler as SchedulerData | undefined;
  const exitCode = (data.exit_code as number | undefined) ?? session.exit_code;
  const others = Object.entries(data).filter(([k]) => !SHOWN.has(k));
  const final = data.final as { status?: string; status_info?: string } | undefined;

  return (
    <Modal
      open={open}
      onCancel={onClose}
      footer={null}
      width={720}
      title={
        <Space>
          Status of {session.name} <StatusTag status={session.status} />
        </Space>
      }
      data-testid="status-info"
    >
      <Space direction="vertical" style={{ width: "100%" }} size="middle">
        <Descriptions size="small" column={1} bordered>
          <Descriptions.Item label="Reason">
            <Typography.Text code>{session.status_info}</Typography.Text>{" "}
            {describeReason(session.status_info)}
          </Descriptions.Item>
          <Descriptions.Item label="Since">{formatTime(session.status_changed_at)}</Descriptions.Item>
          {exitCode !== null && exitCode !== undefined && (
            <Descriptions.Item label="Exit code">
              <Typography.Text strong type={exitCode === 0 ? "success" : "danger"}>
                {exitCode}
              </Typography.Text>
            </Descriptions.Item>
          )}
          {session.type === "batch" && session.result !== "UNDEFINED" && (
            <Descriptions.Item label="Result">{session.result}</Descriptions.Item>
          )}
          {data.oom_killed === true && (
            <Descriptions.Item label="Out of memory">
              <Typography.Text type="danger">killed: the memory limit was reached</Typography.Text>
            </Descriptions.Item>
          )}
          {final && (
            <Descriptions.Item label="Will end as">
              {final.status} ({final.status_info})
            </Descriptions.Item>
          )}
          {others.map(([key, value]) => (
            <Descriptions.Item key={key} label={LABELS[key] ?? key.replace(/_/g, " ")}>
              {plain(value)}
            </Descriptions.Item>
          ))}
        </Descriptions>
        {typeof data.error === "string" && (
          <Alert
            type="error"
            showIcon
            message={data.error}
            description={data.where ? `Where: ${plain(data.where)}` : undefined}
          />
        )}
        {scheduler && <SchedulerSection data={scheduler} />}
        <Collapse
          size="small"
          items={[
            {
              key: "raw",
              label: "Raw status data",
              children: (
                <pre style={{ margin: 0, whiteSpace: "pre-wrap" }}>
                  {JSON.stringify(data, null, 2)}
                </pre>
              ),
            },
          ]}
        />
      </Space>
    </Modal>
  );
}
