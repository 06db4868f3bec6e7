import { LoadingOutlined } from "@ant-design/icons";
import { App } from "antd";
import type { ArgsProps, IconType } from "antd/es/notification/interface";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import AppLauncher, { type AppsTarget } from "../apps/AppLauncher";
import { useUser } from "../auth";
import { useIdleWarnings, useSessionEvents } from "../events";
import LogsModal, { type LogsTarget } from "../logs/LogsModal";
import type { NoticeKind } from "../sessions/outcome";
import TerminateDialog, { type Target } from "../sessions/TerminateDialog";
import { NotificationsContext } from "./context";
import { isMine, warningKey, warningTitle } from "./idleWarning";
import IdleWarningNotice from "./IdleWarningNotice";
import LiveNotice from "./LiveNotice";
import { setNotifyHandler, type NotifySession } from "./notify";
import { loadEntries, saveEntries, type Entry } from "./store";
import { SUCCESS_CLOSE_S } from "./toast";

const NOTICE_TYPE: Record<NoticeKind, IconType> = {
  progress: "info",
  success: "success",
  failure: "error",
  neutral: "info",
};
type NoticeProps = NonNullable<ArgsProps["props"]>;

/** Shows session notifications and keeps the Notifications list (the header bell). */
export function NotificationsProvider({ children }: { children: ReactNode }) {
  const user = useUser();
  const { notification } = App.useApp();
  const [entries, setEntries] = useState<Entry[]>(() => loadEntries(user.id));
  const [logs, setLogs] = useState<LogsTarget | null>(null);
  const [terminating, setTerminating] = useState<Target[]>([]);
  const [apps, setApps] = useState<AppsTarget | null>(null);

  useEffect(() => saveEntries(user.id, entries), [user.id, entries]);

  // One notice per session, updated in place (same key) as it goes: "progress" while it
  // starts (stays), green once RUNNING or ended well (closes by itself; hovering pauses it),
  // red when it failed (stays until closed). The bell keeps every one.
  const open = useCallback(
    function openNotice(session: NotifySession, kind: NoticeKind) {
      const key = `session-${session.id}`;
      const closes = kind === "success" || kind === "neutral";
      notification.open({
        key,
        message: `Session ${session.name}`,
        type: NOTICE_TYPE[kind],
        icon: kind === "progress" ? <LoadingOutlined style={{ color: "#1677ff" }} /> : undefined,
        duration: closes ? SUCCESS_CLOSE_S : 0,
        showProgress: closes,
        pauseOnHover: true,
        className: "session-notice",
        props: { "data-kind": kind } as NoticeProps,
        description: (
          <LiveNotice
            session={session}
            userId={user.id}
            onLogs={setLogs}
            onApps={() => setApps({ id: session.id, name: session.name })}
            onTerminate={() => setTerminating([{ id: session.id, name: session.name }])}
            onKind={(next) => openNotice(session, next)}
          />
        ),
      });
    },
    [notification, user.id],
  );

  const show = useCallback(
    (session: NotifySession) => {
      setEntries((old) => [
        { sessionId: session.id, name: session.name, status: session.status, at: new Date().toISOString(), read: false },
        ...old.filter((e) => e.sessionId !== session.id),
      ]);
      open(session, session.status === "RUNNING" ? "success" : "progress");
    },
    [open],
  );

  useEffect(() => {
    setNotifyHandler(show);
    return () => setNotifyHandler(null);
  }, [show]);

  // Logging out unmounts this provider: no notice of that user stays on the login page.
  useEffect(() => () => notification.destroy(), [notification]);

  useSessionEvents((e) =>
    setEntries((old) =>
      old.some((x) => x.sessionId === e.session_id)
        ? old.map((x) => (x.sessionId === e.session_id ? { ...x, status: e.status, name: e.name } : x))
        : old,
    ),
  );

  // An idle check will reclaim one of my sessions soon: a warning that stays until closed.
  useIdleWarnings((e) => {
    if (!isMine(e, user.id)) return;
    notification.warning({
      key: warningKey(e),
      message: warningTitle(e),
      description: <IdleWarningNotice event={e} receivedAt={Date.now()} />,
      duration: 0,
      className: "idle-warning-notice",
    });
  });

  const value = useMemo(
    () => ({
      entries,
      markAllRead: () => setEntries((old) => old.map((e) => ({ ...e, read: true }))),
      clear: () => setEntries([]),
    }),
    [entries],
  );

  return (
    <NotificationsContext.Provider value={value}>
      {children}
      <LogsModal target={logs} onClose={() => setLogs(null)} />
      <AppLauncher target={apps} onClose={() => setApps(null)} />
      <TerminateDialog targets={terminating} onClose={() => setTerminating([])} />
    </NotificationsContext.Provider>
  );
}
