// The browser terminal's WebSocket protocol (/api/sessions/{ref}/terminal?cols=&rows=):
// client -> server TEXT frames of JSON ({"type":"input"} / {"type":"resize"}); server -> client
// BINARY frames of raw terminal output, and possibly one TEXT frame {"type":"error"} before it
// closes.

export const TMUX_HELP =
  "tmux: Ctrl-B c new shell · Ctrl-B w list · Ctrl-B PgUp scroll · Ctrl-B :set -g mouse off to copy with the mouse";

/** xterm.js options. A line height above 1 leaves room below the baseline: at 1, common
 * monospace fonts (DejaVu Sans Mono at 14 px) draw `_` in the next row's space, where the DOM
 * renderer clips it, so underscores were invisible. */
export const TERMINAL_OPTIONS = {
  cursorBlink: true,
  fontSize: 14,
  lineHeight: 1.2,
  fontFamily: 'Menlo, Monaco, "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace',
  scrollback: 5000,
} as const;

export function terminalSocketUrl(
  loc: { protocol: string; host: string },
  ref: string,
  cols: number,
  rows: number,
): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const qs = new URLSearchParams({ cols: String(cols), rows: String(rows) });
  return `${scheme}//${loc.host}/api/sessions/${encodeURIComponent(ref)}/terminal?${qs}`;
}

export function inputFrame(data: string): string {
  return JSON.stringify({ type: "input", data });
}

export function resizeFrame(cols: number, rows: number): string {
  return JSON.stringify({ type: "resize", cols, rows });
}

/** The message of a server TEXT frame {"type":"error","message":...}; null for anything else. */
export function serverError(text: string): string | null {
  try {
    const frame = JSON.parse(text) as { type?: unknown; message?: unknown };
    if (frame && frame.type === "error") {
      return typeof frame.message === "string" && frame.message ? frame.message : "terminal error";
    }
  } catch {
    // not JSON
  }
  return null;
}

const CLOSE_CODES: Record<number, string> = {
  1000: "the terminal was closed",
  1001: "the server is going away (restarting?)",
  1006: "the connection was lost",
  1008: "refused by the server",
  1011: "the server hit an error",
  1012: "the server is restarting",
  1013: "the server is busy; try again later",
};

/** Why the terminal disconnected, for "Disconnected: <reason>". */
export function closeReason(code: number, reason: string, serverMessage: string | null): string {
  if (serverMessage) return serverMessage;
  if (reason) return reason;
  return CLOSE_CODES[code] ?? `the connection closed (code ${code})`;
}
