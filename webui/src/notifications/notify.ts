// `notify(session)`: show a live notification for a session (bottom left) and keep it in the
// header's Notifications list. The launcher calls it after a successful launch.
import type { SessionStatus } from "../types";

export interface NotifySession {
  id: string;
  name: string;
  status: SessionStatus;
}

type Handler = (session: NotifySession) => void;
let handler: Handler | null = null;
const queued: NotifySession[] = [];

/** Installed by NotificationsProvider; calls made before it mounts are replayed. */
export function setNotifyHandler(next: Handler | null): void {
  handler = next;
  if (handler) queued.splice(0).forEach(handler);
}

export function notify(session: NotifySession): void {
  if (handler) handler(session);
  else queued.push(session);
}
