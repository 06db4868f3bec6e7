import {
  CheckCircleOutlined,
  ClockCircleOutlined,
  CloseCircleOutlined,
  ExclamationCircleOutlined,
  MinusCircleOutlined,
  SyncOutlined,
} from "@ant-design/icons";
import { Tag, Tooltip } from "antd";
import type { ReactNode } from "react";
import type { SessionStatus } from "../types";

const LOOK: Record<SessionStatus, { color: string; icon: ReactNode }> = {
  PENDING: { color: "gold", icon: <ClockCircleOutlined /> },
  SCHEDULED: { color: "processing", icon: <SyncOutlined spin /> },
  PREPARING: { color: "processing", icon: <SyncOutlined spin /> },
  PULLING: { color: "processing", icon: <SyncOutlined spin /> },
  CREATING: { color: "processing", icon: <SyncOutlined spin /> },
  RUNNING: { color: "success", icon: <CheckCircleOutlined /> },
  TERMINATING: { color: "orange", icon: <SyncOutlined spin /> },
  TERMINATED: { color: "default", icon: <MinusCircleOutlined /> },
  CANCELLED: { color: "default", icon: <CloseCircleOutlined /> },
  ERROR: { color: "error", icon: <ExclamationCircleOutlined /> },
};

export const STATUS_LIST = Object.keys(LOOK) as SessionStatus[];

interface Props {
  status: SessionStatus;
  info?: string;
}

/** A session's status as a coloured tag; hovering shows the reason (status_info). */
export default function StatusTag({ status, info }: Props) {
  const look = LOOK[status] ?? LOOK.PENDING;
  const tag = (
    <Tag color={look.color} icon={look.icon} data-status={status} style={{ marginInlineEnd: 0 }}>
      {status}
    </Tag>
  );
  return info ? <Tooltip title={info}>{tag}</Tooltip> : tag;
}
