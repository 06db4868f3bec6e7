// The folders the launcher can mount (GET /api/folders, not trashed), shared by the Data &
// storage step, the confirm card and the rules. `folders` is null until the first answer.
import { useCallback, useEffect, useState } from "react";
import { foldersApi } from "../data/foldersApi";
import type { Folder } from "../data/types";

export interface FolderList {
  folders: Folder[] | null;
  error: string | null;
  reload: () => void;
  /** A folder just created: shown at once, before the reload answers. */
  add: (folder: Folder) => void;
}

export function useFolders(): FolderList {
  const [folders, setFolders] = useState<Folder[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    foldersApi
      .list(false)
      .then((list) => {
        setFolders(list.filter((f) => f.status !== "trashed"));
        setError(null);
      })
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, []);
  useEffect(reload, [reload]);
  const add = useCallback((folder: Folder) => {
    setFolders((prev) => [...(prev ?? []).filter((f) => f.id !== folder.id), folder]);
  }, []);
  return { folders, error, reload, add };
}
