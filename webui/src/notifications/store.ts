// The Notifications list, kept per user in the browser's local storage.
import type { SessionStatus } from "../types";

export interface Entry {
  sessionId: string;
  name: string;
  status: SessionStatus;
  /** ISO time the notification was created. */
  at: string;
  read: boolean;
}

const MAX = 50;

function key(userId: string): string {
  return `berth.notifications.${userId}`;
}

export function loadEntries(userId: string): Entry[] {
  try {
    const raw = window.localStorage.getItem(key(userId));
    const parsed = raw ? (JSON.parse(raw) as Entry[]) : [];
    return Array.isArray(parsed) ? parsed.slice(0, MAX) : [];
  } catch {
    return [];
  }
}

export function saveEntries(userId: string, entries: Entry[]): void {
  try {
    window.localStorage.setItem(key(userId), JSON.stringify(entries.slice(0, MAX)));
  } catch {
    // Storage full or disabled: the list just does not survive a reload.
  }
}
