import { AppstoreOutlined, CodeOutlined } from "@ant-design/icons";
import { Button, Tooltip } from "antd";
import type { SessionStatus, SessionType } from "../types";
import { terminalPath } from "./appsApi";
import { openWindow } from "./popup";
import { useToast } from "../notifications/toast";

export interface AppsSession {
  id: string;
  name: string;
  type: SessionType;
  status: SessionStatus;
  owner_id: string;
}

/** null when the session's apps can be used by user `userId`, otherwise why not. */
export function appsBlocker(
  s: { type: SessionType; status: SessionStatus; owner_id: string },
  userId: string,
): string | null {
  if (s.type !== "interactive") return "Apps are for interactive sessions";
  if (s.owner_id !== userId) return "Only the session's owner can use its apps";
  if (s.status !== "RUNNING") return `Apps open once the session is RUNNING (it is ${s.status})`;
  return null;
}

interface Props {
  session: AppsSession;
  /** The logged-in user (a prop, not useUser(): notifications render outside the auth tree). */
  userId: string;
  onApps: () => void;
  size?: "small" | "middle";
  /** Icons only (the sessions list); otherwise icons and labels. */
  compact?: boolean;
}

/** The Apps and Terminal buttons of a session (list row, detail panel, notification). */
export default function AppButtons({ session, userId, onApps, size = "middle", compact = false }: Props) {
  const toast = useToast();
  const blocker = appsBlocker(session, userId);
  const terminal = () => {
    if (!openWindow(terminalPath(session.id))) {
      toast.warning("The browser blocked the new window; allow pop-ups for this site");
    }
  };
  return (
    <>
      <Tooltip title={blocker ?? "Apps: Jupyter, TensorBoard, SSH/SFTP, ports"}>
        <Button size={size} icon={<AppstoreOutlined />} disabled={blocker !== null} onClick={onApps} aria-label="Apps">
          {compact ? null : "Apps"}
        </Button>
      </Tooltip>
      <Tooltip title={blocker ?? "Terminal in a new window"}>
        <Button size={size} icon={<CodeOutlined />} disabled={blocker !== null} onClick={terminal} aria-label="Terminal">
          {compact ? null : "Terminal"}
        </Button>
      </Tooltip>
    </>
  );
}
