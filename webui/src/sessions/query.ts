// The sessions page keeps its view (tab, running/finished, filter, page, sort, open session)
// in the URL, so reload and back/forward keep it.
import { useCallback, useMemo } from "react";
import { useSearchParams } from "react-router-dom";
import type { Session, SessionType } from "../types";

export type TabKey = "all" | SessionType;
export type StateKey = "running" | "finished";
export type SortOrder = "asc" | "desc";

/** Table column key -> the server's sort field. Elapsed time grows as started_at shrinks. */
const SERVER_SORT: Record<string, { field: string; invert?: boolean }> = {
  name: { field: "name" },
  status: { field: "status" },
  type: { field: "type" },
  image: { field: "image" },
  agent: { field: "agent_id" },
  created: { field: "created_at" },
  elapsed: { field: "started_at", invert: true },
  cpu: { field: "cpu" },
  mem: { field: "mem" },
  owner: { field: "owner" },
};

/** Columns the server cannot sort by would be sorted within the page shown: none today. */
const PAGE_SORT: Record<string, (s: Session) => number | string> = {};

export interface ListView {
  tab: TabKey;
  state: StateKey;
  name: string;
  page: number;
  size: number;
  sort: string;
  order: SortOrder;
  session: string | null;
}

export const PAGE_SIZES = [10, 20, 50, 100];

export function serverSort(view: ListView): string {
  const server = SERVER_SORT[view.sort];
  if (!server) return "-created_at";
  const descending = (view.order === "desc") !== Boolean(server.invert);
  return `${descending ? "-" : ""}${server.field}`;
}

export function sortPage(items: Session[], view: ListView): Session[] {
  const key = PAGE_SORT[view.sort];
  if (!key) return items;
  const sign = view.order === "desc" ? -1 : 1;
  return [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sign;
  });
}

export function useListView(): [ListView, (patch: Partial<ListView>) => void] {
  const [params, setParams] = useSearchParams();
  const view = useMemo<ListView>(() => {
    const tab = params.get("tab");
    const size = Number(params.get("size"));
    return {
      tab: tab === "interactive" || tab === "batch" ? tab : "all",
      state: params.get("state") === "finished" ? "finished" : "running",
      name: params.get("name") ?? "",
      page: Math.max(1, Number(params.get("page")) || 1),
      size: PAGE_SIZES.includes(size) ? size : 20,
      sort: params.get("sort") ?? "created",
      order: params.get("order") === "asc" ? "asc" : "desc",
      session: params.get("session"),
    };
  }, [params]);

  const update = useCallback(
    (patch: Partial<ListView>) => {
      setParams(
        (old) => {
          const next = new URLSearchParams(old);
          const defaults: Record<string, string> = {
            tab: "all",
            state: "running",
            name: "",
            page: "1",
            size: "20",
            sort: "created",
            order: "desc",
            session: "",
          };
          for (const [key, value] of Object.entries(patch)) {
            const text = value === null || value === undefined ? "" : String(value);
            if (text === defaults[key]) next.delete(key);
            else next.set(key, text);
          }
          return next;
        },
        { replace: !("session" in patch) },
      );
    },
    [setParams],
  );
  return [view, update];
}
