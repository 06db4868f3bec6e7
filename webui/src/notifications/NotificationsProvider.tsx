import { App } from "antd";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import AppLauncher, { type AppsTarget } from "../apps/AppLauncher";
import { useUser } from "../auth";
import { useSessionEvents } from "../events";
import LogsModal, { type LogsTarget } from "../logs/LogsModal";
import TerminateDialog, { type Target } from "../sessions/TerminateDialog";
import { NotificationsContext } from "./context";
import LiveNotice from "./LiveNotice";
import { setNotifyHandler, type NotifySession } from "./notify";
import { loadEntries, saveEntries, type Entry } from "./store";

/** Shows session notifications and keeps the Notifications list (the header bell). */
export function NotificationsProvider({ children }: { children: ReactNode }) {
  const user = useUser();
  const { notification } = App.useApp();
  const [entries, setEntries] = useState<Entry[]>(() => loadEntries(user.id));
  const [logs, setLogs] = useState<LogsTarget | null>(null);
  const [terminating, setTerminating] = useState<Target[]>([]);
  const [apps, setApps] = useState<AppsTarget | null>(null);

  useEffect(() => saveEntries(user.id, entries), [user.id, entries]);

  const show = useCallback(
    (session: NotifySession) => {
      setEntries((old) => [
        { sessionId: session.id, name: session.name, status: session.status, at: new Date().toISOString(), read: false },
        ...old.filter((e) => e.sessionId !== session.id),
      ]);
      const key = `session-${session.id}`;
      notification.open({
        key,
        message: `Session ${session.name}`,
        duration: 0,
        placement: "bottomRight",
        description: (
          <LiveNotice
            session={session}
            userId={user.id}
            onLogs={setLogs}
            onApps={() => setApps({ id: session.id, name: session.name })}
            onTerminate={() => setTerminating([{ id: session.id, name: session.name }])}
            onEnded={() => notification.destroy(key)}
          />
        ),
      });
    },
    [notification, user.id],
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
