import {
  ApiOutlined,
  AppstoreOutlined,
  BookOutlined,
  CloseOutlined,
  CodeOutlined,
  KeyOutlined,
  LineChartOutlined,
} from "@ant-design/icons";
import { Button, Spin, Tooltip, Typography } from "antd";
import type { ReactNode } from "react";
import type { SessionApp } from "../types";

const LOOKS: Record<string, { icon: ReactNode; color: string }> = {
  jupyter: { icon: <BookOutlined />, color: "#f37626" },
  terminal: { icon: <CodeOutlined />, color: "#262626" },
  tensorboard: { icon: <LineChartOutlined />, color: "#08979c" },
  sshd: { icon: <KeyOutlined />, color: "#1677ff" },
};

function look(app: SessionApp): { icon: ReactNode; color: string } {
  if (LOOKS[app.name]) return LOOKS[app.name];
  if (app.protocol === "preopen") return { icon: <ApiOutlined />, color: "#389e0d" };
  if (app.protocol === "pty") return LOOKS.terminal;
  if (app.protocol === "tcp") return LOOKS.sshd;
  return { icon: <AppstoreOutlined />, color: "#722ed1" };
}

function hint(app: SessionApp): string {
  if (app.protocol === "preopen") {
    return `Your own server on port ${app.container_port} inside the container: start it before opening, or the page stays blank.`;
  }
  if (app.protocol === "pty") return "A terminal (tmux) in the session, in a new window";
  if (app.protocol === "tcp") return "Host, port and key for SSH/SFTP clients";
  return `Open ${app.title} in a new window`;
}

interface Props {
  app: SessionApp;
  busy: boolean;
  disabled: boolean;
  onOpen: () => void;
  onCloseRoute: () => void;
}

/** One app of the launcher: icon and title; a spinner while it opens; its open route, if any. */
export default function AppTile({ app, busy, disabled, onOpen, onCloseRoute }: Props) {
  const { icon, color } = look(app);
  const route = app.route;
  return (
    <div className="app-tile" data-testid={`app-tile-${app.name}`}>
      <Tooltip title={hint(app)} mouseEnterDelay={0.6}>
        <Button
          type="text"
          className="app-tile-button"
          disabled={disabled && !busy}
          onClick={onOpen}
          aria-busy={busy}
        >
          <span className="app-tile-icon" style={{ background: color }}>
            {busy ? <Spin size="small" className="app-tile-spin" /> : icon}
          </span>
          <span className="app-tile-title">{app.title}</span>
        </Button>
      </Tooltip>
      {route && (
        <span className="app-tile-route">
          <Typography.Text type="secondary" style={{ fontSize: 11 }}>
            {route.public ? "public" : "open"} · port {route.proxy_port}
          </Typography.Text>
          <Tooltip title={`Close the route to ${app.title}`}>
            <Button
              type="text"
              size="small"
              icon={<CloseOutlined style={{ fontSize: 10 }} />}
              aria-label={`Close ${app.title}`}
              disabled={disabled}
              onClick={onCloseRoute}
              style={{ width: 18, height: 18, minWidth: 18 }}
            />
          </Tooltip>
        </span>
      )}
    </div>
  );
}
