// Shapes of the storage API (/work/notes/storage-api.md). Local until the manager's routes are in
// the OpenAPI document; then they derive from src/api-schema.d.ts like src/types.ts.

export type UsageMode = "general" | "data" | "model";
export type Permission = "rw" | "ro";
export type FolderStatus = "ready" | "trashed";

/** A storage folder as GET /api/folders answers it. */
export interface Folder {
  id: string;
  name: string;
  host: string;
  status: FolderStatus;
  trashed_at: string | null;
  created_at: string;
  owner_kind: "user" | "project";
  owner_id: string;
  /** The owner's email, or the project's name. */
  owner_name: string;
  usage_mode: UsageMode;
  /** The folder's default mount permission. */
  permission: Permission;
  /** What the caller may do with its files. */
  my_permission: Permission;
  is_owner: boolean;
  shared_with_me: boolean;
  /** A dot-folder: mounted into every session of its owner at /home/work/.NAME. */
  auto_mount: boolean;
  /** null while not yet measured. */
  usage_bytes: number | null;
  usage_files: number | null;
  usage_measured_at: string | null;
}

export interface FolderCreate {
  name: string;
  host?: string;
  usage_mode?: UsageMode;
  permission?: Permission;
  /** A project's name: the folder belongs to that project. */
  project?: string | null;
}

export interface FolderUpdate {
  name?: string;
  usage_mode?: UsageMode;
  permission?: Permission;
}

export interface Share {
  folder_id: string;
  user_id: string;
  email: string;
  permission: Permission;
  created_at: string;
}

/** A storage host (superadmins only). */
export interface StorageHost {
  name: string;
  path: string;
  capabilities: string[];
  total_bytes: number;
  used_bytes: number;
  free_bytes: number;
  folders: number;
}

export type EntryType = "file" | "dir" | "symlink" | "other";

/** One entry of a folder's directory; `path` is relative to the folder root. */
export interface FileEntry {
  name: string;
  path: string;
  type: EntryType;
  size: number;
  modified: string;
  mode: number;
}

export interface FileListing {
  path: string;
  total: number;
  offset: number;
  limit: number;
  entries: FileEntry[];
}

export type FileSort = "name" | "size" | "modified" | "type";
export type SortOrder = "asc" | "desc";
