import { CameraOutlined, FileTextOutlined, PoweroffOutlined } from "@ant-design/icons";
import { Alert, Button, Drawer, Skeleton, Space, Timeline, Tooltip, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "../api";
import AppButtons from "../apps/AppButtons";
import AppLauncher, { type AppsTarget } from "../apps/AppLauncher";
import { useUser } from "../auth";
import CommitDialog, { type CommitTarget } from "../commits/CommitDialog";
import { commitBlocker } from "../commits/commit";
import { useSessionEvents } from "../events";
import { formatTime } from "../format";
import LogsModal, { type LogsTarget } from "../logs/LogsModal";
import { ENDED, type SessionDetail } from "../types";
import KernelsTable from "./KernelsTable";
import RenameField from "./RenameField";
import SessionDetailsBlock from "./SessionDetails";
import UsageBlock from "./UsageBlock";
import { useSessionUsage } from "./useSessionUsage";
import StatusInfoModal from "./StatusInfoModal";
import TerminateDialog, { type Target } from "./TerminateDialog";

interface Props {
  sessionId: string | null;
  onClose: () => void;
  /** Called after a change that sends no status event (a rename). */
  onChanged?: () => void;
}

function renameBlocker(s: SessionDetail, userId: string): string | null {
  if (s.owner_id !== userId) return "Only the owner can rename a session";
  if (s.status !== "RUNNING") return `Only RUNNING sessions can be renamed (this one is ${s.status})`;
  return null;
}

/** How often an open panel reloads a RUNNING session (its idle checks), ms. */
const DETAIL_REFRESH_MS = 10_000;

/** The detail panel of one session, kept live from the event stream. */
export default function SessionDrawer({ sessionId, onClose, onChanged }: Props) {
  const user = useUser();
  const [session, setSession] = useState<SessionDetail | null>(null);
  // When the shown session was loaded (browser time): its idle checks count down from there.
  const [loadedAt, setLoadedAt] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [infoOpen, setInfoOpen] = useState(false);
  const [logs, setLogs] = useState<LogsTarget | null>(null);
  const [terminating, setTerminating] = useState<Target[]>([]);
  const [apps, setApps] = useState<AppsTarget | null>(null);
  const [committing, setCommitting] = useState<CommitTarget | null>(null);

  const load = useCallback(async () => {
    if (!sessionId) return;
    try {
      setSession(await api.getSession(sessionId));
      setLoadedAt(Date.now());
      setError(null);
    } catch (e) {
      setError(e as ApiError);
    }
  }, [sessionId]);

  useEffect(() => {
    setSession(null);
    setError(null);
    void load();
  }, [load]);

  useSessionEvents(
    (event) => {
      if (event.session_id === sessionId) void load();
    },
    () => void load(),
  );

  const s = session;
  const running = s?.status === "RUNNING";
  const usage = useSessionUsage(sessionId, running);

  // The idle checks change with traffic and usage, which send no event: reload a RUNNING
  // session now and then while its panel is open.
  useEffect(() => {
    if (!running) return;
    const every = window.setInterval(() => void load(), DETAIL_REFRESH_MS);
    return () => window.clearInterval(every);
  }, [running, load]);
  const main = s?.kernels.find((k) => k.role === "main") ?? s?.kernels[0];
  const logsReady = Boolean(s && s.status !== "PENDING" && s.agent_id);
  const openLogs = (kernelId: string, host: string) =>
    s && setLogs({ sessionId: s.id, sessionName: s.name, kernelId, kernelName: host });

  return (
    <Drawer
      open={sessionId !== null}
      onClose={onClose}
      width="min(760px, 100vw)"
      destroyOnHidden
      title={
        s ? (
          <RenameField
            session={s}
            disabledReason={renameBlocker(s, user.id)}
            onRenamed={() => {
              void load();
              onChanged?.();
            }}
          />
        ) : (
          "Session"
        )
      }
      data-testid="session-drawer"
    >
      {error && <Alert type="error" showIcon message="Could not load the session" description={error.message} />}
      {!s && !error && <Skeleton active paragraph={{ rows: 12 }} />}
      {s && (
        <Space direction="vertical" size="large" style={{ width: "100%" }}>
          {/* The actions have a row of their own, so renaming (a wide field in the title)
              never covers them, and they wrap on a narrow screen. */}
          <Space wrap data-testid="drawer-actions">
            <AppButtons session={s} userId={user.id} onApps={() => setApps({ id: s.id, name: s.name })} />
            <Tooltip title={logsReady ? "Logs of the main kernel" : "No logs before the kernel starts"}>
              <Button
                icon={<FileTextOutlined />}
                disabled={!logsReady || !main}
                onClick={() => main && openLogs(main.id, main.cluster_hostname)}
              >
                Logs
              </Button>
            </Tooltip>
            <Tooltip title={commitBlocker(s, user.id) ?? "Save this session's state as your customized image"}>
              <Button
                icon={<CameraOutlined />}
                disabled={commitBlocker(s, user.id) !== null}
                onClick={() => setCommitting({ id: s.id, name: s.name })}
                data-testid="commit-button"
              >
                Convert to image
              </Button>
            </Tooltip>
            <Button
              danger
              icon={<PoweroffOutlined />}
              disabled={ENDED.has(s.status)}
              onClick={() => setTerminating([{ id: s.id, name: s.name }])}
            >
              Terminate
            </Button>
          </Space>
          <SessionDetailsBlock session={s} loadedAt={loadedAt} onInfo={() => setInfoOpen(true)} />
          {running && (
            <div>
              <Typography.Title level={5}>Resource usage</Typography.Title>
              <UsageBlock usage={usage.usage} kernels={s.kernels} failed={usage.error !== null} />
            </div>
          )}
          <div>
            <Typography.Title level={5}>Kernels</Typography.Title>
            <KernelsTable
              kernels={s.kernels}
              logsReady={logsReady}
              onLogs={(k) => openLogs(k.id, k.cluster_hostname)}
            />
          </div>
          <div>
            <Typography.Title level={5}>Status history</Typography.Title>
            <Timeline
              items={s.history.map((h) => ({
                color: h.status === "ERROR" ? "red" : h.status === "RUNNING" ? "green" : "blue",
                children: (
                  <span>
                    <Typography.Text strong>{h.status}</Typography.Text>{" "}
                    <Typography.Text type="secondary">
                      {h.status_info} · {formatTime(h.at)}
                    </Typography.Text>
                  </span>
                ),
              }))}
            />
          </div>
        </Space>
      )}
      <StatusInfoModal session={s} open={infoOpen} onClose={() => setInfoOpen(false)} />
      <LogsModal target={logs} onClose={() => setLogs(null)} />
      <AppLauncher target={apps} onClose={() => setApps(null)} />
      <CommitDialog target={committing} onClose={() => setCommitting(null)} />
      <TerminateDialog targets={terminating} onClose={() => setTerminating([])} onDone={() => void load()} />
    </Drawer>
  );
}
