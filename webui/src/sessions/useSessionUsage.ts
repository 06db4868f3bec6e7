// Polls GET /api/sessions/{ref}/usage while the detail panel is open and the session RUNNING,
// every `interval` seconds (the agents' sampling interval, from the answer).
import { useEffect, useState } from "react";
import { api, ApiError } from "../api";
import type { SessionUsage } from "../types";

/** Seconds between two polls before the first answer says the agents' interval. */
const FIRST_INTERVAL = 5;
/** Never poll faster than this (seconds), whatever the interval. */
const MIN_INTERVAL = 1;

export interface UsageState {
  usage: SessionUsage | null;
  /** The last poll failed (the figures shown, if any, are older). */
  error: ApiError | null;
}

export function useSessionUsage(sessionId: string | null, running: boolean): UsageState {
  const [usage, setUsage] = useState<SessionUsage | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    setUsage(null);
    setError(null);
  }, [sessionId]);

  useEffect(() => {
    if (!sessionId || !running) return;
    let stopped = false;
    let timer: number | undefined;
    let interval = FIRST_INTERVAL;
    const poll = async () => {
      try {
        const next = await api.sessionUsage(sessionId);
        if (stopped) return;
        setUsage(next);
        setError(null);
        if (next.interval > 0) interval = Math.max(MIN_INTERVAL, next.interval);
      } catch (e) {
        if (stopped) return;
        setError(e as ApiError);
        // The session ended or is gone: its next status event stops the polling anyway.
        if ((e as ApiError).status === 404) return;
      }
      timer = window.setTimeout(() => void poll(), interval * 1000);
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [sessionId, running]);

  return { usage, error };
}
