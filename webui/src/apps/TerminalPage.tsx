import { CodeOutlined, QuestionCircleOutlined, ReloadOutlined } from "@ant-design/icons";
import { Alert, Badge, Button, Tooltip } from "antd";
import { useEffect, useRef, useState } from "react";
import { useParams } from "react-router-dom";
import { api, ApiError } from "../api";
import { ENDED, type SessionStatus } from "../types";
import { TMUX_HELP } from "./terminal";
import { useTerminal } from "./useTerminal";

const PHASE = {
  connecting: { status: "processing", text: "connecting" },
  open: { status: "success", text: "connected" },
  closed: { status: "error", text: "disconnected" },
} as const;

/** The browser terminal of a session (/terminal/:ref): a full-window xterm on tmux. */
export default function TerminalPage() {
  const { ref = "" } = useParams();
  const box = useRef<HTMLDivElement>(null);
  const [name, setName] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [ended, setEnded] = useState<SessionStatus | null>(null);
  const { phase, reason, reconnect } = useTerminal(ref, box);

  useEffect(() => {
    api.getSession(ref).then(
      (s) => setName(s.name),
      (e: ApiError) => setLoadError(e.message),
    );
  }, [ref]);

  useEffect(() => {
    document.title = `Terminal — ${name ?? ref}`;
  }, [name, ref]);

  // A closed terminal of an ended session cannot come back: say so instead of "Reconnect".
  useEffect(() => {
    if (phase !== "closed") return setEnded(null);
    api.getSession(ref).then(
      (s) => setEnded(ENDED.has(s.status) ? s.status : null),
      () => undefined,
    );
  }, [phase, ref]);

  const shown = PHASE[phase];
  return (
    <div className="terminal-page">
      <div className="terminal-bar">
        <CodeOutlined />
        <span className="terminal-name">{name ?? ref}</span>
        <Badge
          status={shown.status}
          text={
            <span className="terminal-phase" data-testid="terminal-status">
              {shown.text}
            </span>
          }
        />
        <span className="terminal-help" data-testid="terminal-help">
          {TMUX_HELP}
        </span>
        <Tooltip
          placement="bottomRight"
          title={
            <>
              The terminal runs tmux: it keeps running when this window closes; reconnecting shows it again.
              <br />
              {TMUX_HELP}
              <br />
              With the mouse on, hold Shift while selecting to copy.
            </>
          }
        >
          <QuestionCircleOutlined aria-label="Terminal help" />
        </Tooltip>
      </div>
      {loadError && <Alert type="error" banner message={`Could not load the session: ${loadError}`} />}
      <div className="terminal-body">
        <div className="terminal-box" data-testid="terminal" ref={box} />
        {phase === "closed" && (
          <div className="terminal-overlay" data-testid="terminal-disconnected">
            <Alert
              type={ended ? "info" : "warning"}
              showIcon
              message={`Disconnected: ${ended ? `the session is ${ended}` : reason}`}
              action={
                ended ? null : (
                  <Button size="small" type="primary" icon={<ReloadOutlined />} onClick={reconnect}>
                    Reconnect
                  </Button>
                )
              }
            />
          </div>
        )}
      </div>
    </div>
  );
}
