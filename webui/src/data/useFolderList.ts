// GET /api/folders (trashed or not) as React state.
import { useCallback, useEffect, useState } from "react";
import { foldersApi } from "./foldersApi";
import type { Folder } from "./types";

export interface FolderListState {
  folders: Folder[];
  /** Until the first answer. */
  loading: boolean;
  error: string | null;
  reload: () => void;
}

export function useFolderList(trashed: boolean, enabled = true): FolderListState {
  const [folders, setFolders] = useState<Folder[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const reload = useCallback(() => setReloads((n) => n + 1), []);

  useEffect(() => {
    if (!enabled) return;
    const ctrl = new AbortController();
    foldersApi.list(trashed, ctrl.signal).then(
      (list) => {
        setFolders(list);
        setError(null);
      },
      (e: Error) => {
        if (e.name !== "AbortError") setError(e.message);
      },
    );
    return () => ctrl.abort();
  }, [trashed, enabled, reloads]);

  return { folders: folders ?? [], loading: folders === null && error === null, error, reload };
}
