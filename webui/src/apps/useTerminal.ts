// An xterm.js terminal in a container element, connected to the session's terminal WebSocket.
// Reconnecting attaches to the same tmux session on the server, which redraws the screen.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useCallback, useEffect, useRef, useState, type RefObject } from "react";
import { closeReason, inputFrame, resizeFrame, serverError, TERMINAL_OPTIONS, terminalSocketUrl } from "./terminal";

export type TerminalPhase = "connecting" | "open" | "closed";

export interface TerminalState {
  phase: TerminalPhase;
  /** Why it disconnected (when closed). */
  reason: string | null;
  reconnect: () => void;
}

const THEME = {
  background: "#1e1e1e",
  foreground: "#e6e6e6",
  cursor: "#e6e6e6",
  selectionBackground: "#264f78",
};

export function useTerminal(ref: string, box: RefObject<HTMLDivElement>): TerminalState {
  const [phase, setPhase] = useState<TerminalPhase>("connecting");
  const [reason, setReason] = useState<string | null>(null);
  const term = useRef<Terminal | null>(null);
  const socket = useRef<WebSocket | null>(null);

  const send = (frame: string) => {
    const ws = socket.current;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(frame);
  };

  const connect = useCallback(() => {
    const t = term.current;
    if (!t) return;
    const old = socket.current;
    socket.current = null;
    old?.close();
    setPhase("connecting");
    setReason(null);
    const ws = new WebSocket(terminalSocketUrl(window.location, ref, t.cols, t.rows));
    ws.binaryType = "arraybuffer";
    socket.current = ws;
    let message: string | null = null;
    ws.onopen = () => {
      if (socket.current !== ws) return;
      setPhase("open");
      ws.send(resizeFrame(t.cols, t.rows)); // the size may have changed while connecting
      t.focus();
    };
    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data === "string") message = serverError(e.data) ?? message;
      else t.write(new Uint8Array(e.data));
    };
    ws.onclose = (e) => {
      if (socket.current !== ws) return; // replaced by a newer connection, or unmounted
      socket.current = null;
      setPhase("closed");
      setReason(closeReason(e.code, e.reason, message));
    };
  }, [ref]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const t = new Terminal({ ...TERMINAL_OPTIONS, theme: THEME });
    const fit = new FitAddon();
    t.loadAddon(fit);
    t.open(el);
    const refit = () => {
      try {
        fit.fit();
      } catch {
        // not laid out (hidden): keep the size
      }
    };
    refit();
    term.current = t;
    const subs = [
      t.onData((data) => send(inputFrame(data))),
      t.onResize(({ cols, rows }) => send(resizeFrame(cols, rows))),
    ];
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(refit);
    });
    observer.observe(el);
    connect();
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
      subs.forEach((s) => s.dispose());
      const ws = socket.current;
      socket.current = null;
      ws?.close();
      term.current = null;
      t.dispose();
    };
  }, [box, connect]);

  const reconnect = useCallback(() => {
    term.current?.reset();
    connect();
  }, [connect]);

  return { phase, reason, reconnect };
}
