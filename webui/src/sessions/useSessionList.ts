// Loads one page of sessions with the tab counts, and keeps it live from the event stream.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError } from "../api";
import { useSessionEvents } from "../events";
import type { Session, SessionCounts, SessionPage } from "../types";
import { serverSort, type ListView } from "./query";

export interface SessionList {
  items: Session[];
  total: number;
  counts: SessionCounts | null;
  loading: boolean;
  error: ApiError | null;
  reload: () => void;
}

export function useSessionList(fullView: ListView): SessionList {
  // Opening a session's panel changes the URL but not the list: do not reload for it.
  const key = JSON.stringify({ ...fullView, session: null });
  const view = useMemo(() => fullView, [key]);
  const [page, setPage] = useState<SessionPage | null>(null);
  const [counts, setCounts] = useState<SessionCounts | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const generation = useRef(0);
  const timer = useRef<number>();

  const load = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const result = await api.listSessions({
        state: view.state,
        name: view.name,
        type: view.tab === "all" ? undefined : view.tab,
        offset: (view.page - 1) * view.size,
        limit: view.size,
        sort: serverSort(view),
      });
      if (mine !== generation.current) return; // a newer load started meanwhile
      setPage(result);
      setCounts(result.counts);
      setError(null);
    } catch (e) {
      if (mine === generation.current) setError(e as ApiError);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, [view]);

  useEffect(() => {
    setLoading(true);
    void load();
  }, [load]);

  // The timer calls the newest load, never one captured for a view the user has left
  // (e.g. Running just before switching to Finished).
  const latestLoad = useRef(load);
  latestLoad.current = load;
  const reloadSoon = useCallback(() => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => void latestLoad.current(), 200);
  }, []);
  useEffect(() => () => window.clearTimeout(timer.current), [load]);

  useEffect(() => () => window.clearTimeout(timer.current), []);

  // A safety net besides the stream: refresh every 30 s; every 10 s while the page shows a
  // RUNNING session, whose CPU and memory figures change without an event.
  const live = (page?.items ?? []).some((s) => s.status === "RUNNING");
  useEffect(() => {
    const every = window.setInterval(() => void load(), live ? 10000 : 30000);
    return () => window.clearInterval(every);
  }, [load, live]);

  useSessionEvents(
    (event) => {
      // Show the new status at once, then reload the page for new rows, moves and counts.
      setPage((old) =>
        old && {
          ...old,
          items: old.items.map((s) =>
            s.id === event.session_id
              ? { ...s, status: event.status, status_info: event.status_info, name: event.name }
              : s,
          ),
        },
      );
      reloadSoon();
    },
    () => reloadSoon(),
  );

  return {
    items: page?.items ?? [],
    total: page?.total ?? 0,
    counts,
    loading,
    error,
    reload: () => void load(),
  };
}
