import { FileTextOutlined, PoweroffOutlined } from "@ant-design/icons";
import { Button, Typography } from "antd";
import { useEffect, useRef, useState } from "react";
import { api } from "../api";
import AppButtons from "../apps/AppButtons";
import { useSessionEvents } from "../events";
import type { LogsTarget } from "../logs/LogsModal";
import OutcomeTag from "../sessions/OutcomeTag";
import { noticeKind, type NoticeKind, type OutcomeInput } from "../sessions/outcome";
import StatusTag from "../sessions/StatusTag";
import { describeReason } from "../sessions/reasons";
import { ENDED, type SessionStatus, type SessionType } from "../types";
import type { NotifySession } from "./notify";

interface Props {
  session: NotifySession;
  userId: string;
  onLogs: (target: LogsTarget) => void;
  onApps: () => void;
  onTerminate: () => void;
  /** The notice's kind changed (it started, failed, ended): the provider restyles it. */
  onKind: (kind: NoticeKind) => void;
}

/** The body of a session notification: live status (with the result once it ended) and the
 * Apps / Terminal / Logs / Terminate buttons (Apps and Terminal once an interactive session is
 * RUNNING). */
export default function LiveNotice({ session, userId, onLogs, onApps, onTerminate, onKind }: Props) {
  const [status, setStatus] = useState<SessionStatus>(session.status);
  const [info, setInfo] = useState("");
  const [meta, setMeta] = useState<{ type: SessionType; owner_id: string } | null>(null);
  const [result, setResult] = useState<OutcomeInput | null>(null);
  const [kernel, setKernel] = useState<{ id: string; host: string } | null>(null);
  const ended = ENDED.has(status);
  const kindRef = useRef(onKind);
  kindRef.current = onKind;

  // Events seen so far: a load that started before the latest event answers with an older
  // status than that event's, so it must not overwrite it (the notice then stayed at CREATING).
  const seen = useRef(0);
  const refresh = () => {
    const asked = seen.current;
    return api.getSession(session.id).then((s) => {
      if (seen.current === asked) {
        setStatus(s.status);
        setInfo(s.status_info);
      }
      setMeta({ type: s.type, owner_id: s.owner_id });
      setResult(s);
      const main = s.kernels.find((k) => k.role === "main") ?? s.kernels[0];
      if (main) setKernel({ id: main.id, host: main.cluster_hostname });
    }, () => undefined);
  };

  useEffect(() => {
    void refresh();
  }, [session.id]);

  useSessionEvents(
    (e) => {
      if (e.session_id !== session.id) return;
      seen.current += 1;
      setStatus(e.status);
      setInfo(e.status_info);
      if (ENDED.has(e.status)) void refresh(); // the result and exit code
    },
    () => void refresh(),
  );

  // Judged from the loaded session (result, exit code) once it matches the live status.
  const kind: NoticeKind | null =
    result && result.status === status ? noticeKind(result) : !ENDED.has(status) ? (status === "RUNNING" ? "success" : "progress") : null;
  const shownKind = useRef<NoticeKind | null>(null);
  useEffect(() => {
    if (kind === null || kind === shownKind.current) return;
    const first = shownKind.current === null;
    shownKind.current = kind;
    // The provider opened it with the launch status: restyle only when that changed.
    if (!first || kind !== (session.status === "RUNNING" ? "success" : "progress")) kindRef.current(kind);
  }, [kind, session.status]);

  return (
    // Compact: one line of status (the reason cut to fit, whole on hover), one row of buttons;
    // Apps and Terminal only once they can be used.
    <div className="live-notice" data-testid={`notice-${session.name}`}>
      <div className="live-notice-status">
        <StatusTag status={status} />
        {result && result.status === status && <OutcomeTag session={result} />}
        {info && (
          <Typography.Text type="secondary" ellipsis={{ tooltip: describeReason(info) }}>
            {describeReason(info)}
          </Typography.Text>
        )}
      </div>
      <div className="live-notice-actions">
        {meta?.type === "interactive" && status === "RUNNING" && (
          <AppButtons session={{ ...meta, id: session.id, name: session.name, status }} userId={userId} size="small" onApps={onApps} />
        )}
        <Button
          size="small"
          icon={<FileTextOutlined />}
          disabled={!kernel || status === "PENDING"}
          onClick={() =>
            kernel &&
            onLogs({
              sessionId: session.id,
              sessionName: session.name,
              kernelId: kernel.id,
              kernelName: kernel.host,
            })
          }
        >
          Logs
        </Button>
        <Button size="small" danger icon={<PoweroffOutlined />} disabled={ended} onClick={onTerminate}>
          Terminate
        </Button>
      </div>
    </div>
  );
}
