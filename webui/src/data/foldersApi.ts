// Typed calls for the storage API (/api/folders, /api/storage/hosts); uploads are in upload.ts.
import { buildUrl, request } from "../api";
import type {
  FileEntry,
  FileListing,
  FileSort,
  Folder,
  FolderCreate,
  FolderUpdate,
  Permission,
  Share,
  SortOrder,
  StorageHost,
} from "./types";

const base = (id: string) => `/api/folders/${encodeURIComponent(id)}`;

export interface ListFilesQuery {
  path: string;
  sort?: FileSort;
  order?: SortOrder;
  offset?: number;
  /** At most 1000 (the API's bound). */
  limit?: number;
}

export const foldersApi = {
  hosts: () => request<StorageHost[]>("/api/storage/hosts"),

  /** Own, project and shared-with-me folders; `trashed`: the caller's trash instead. */
  list: (trashed = false, signal?: AbortSignal) =>
    request<Folder[]>("/api/folders", { query: { trashed }, signal }),
  create: (body: FolderCreate) => request<Folder>("/api/folders", { method: "POST", body }),
  get: (id: string) => request<Folder>(base(id)),
  update: (id: string, body: FolderUpdate) =>
    request<Folder>(base(id), { method: "PATCH", body }),
  /** Moves the folder to the trash. */
  trash: (id: string) => request<Folder>(base(id), { method: "DELETE" }),
  /** Back from the trash; `name` when the old one is taken again. */
  restore: (id: string, name?: string) =>
    request<Folder>(`${base(id)}/restore`, { method: "POST", body: name ? { name } : {} }),
  /** Deletes a trashed folder for good. */
  purge: (id: string) => request<void>(`${base(id)}/purge`, { method: "POST" }),

  shares: (id: string) => request<Share[]>(`${base(id)}/shares`),
  share: (id: string, email: string, permission: Permission) =>
    request<Share>(`${base(id)}/shares`, { method: "POST", body: { email, permission } }),
  /** The owner removes anyone; an invitee removes itself (leaves). */
  unshare: (id: string, userId: string) =>
    request<void>(`${base(id)}/shares/${encodeURIComponent(userId)}`, { method: "DELETE" }),

  files: (id: string, q: ListFilesQuery, signal?: AbortSignal) =>
    request<FileListing>(`${base(id)}/files`, { query: { ...q }, signal }),
  mkdir: (id: string, path: string, parents = false) =>
    request<FileEntry>(`${base(id)}/mkdir`, { method: "POST", body: { path, parents } }),
  move: (id: string, src: string, dst: string) =>
    request<FileEntry>(`${base(id)}/move`, { method: "POST", body: { src, dst } }),
  /** A non-empty directory needs `recursive` (else 409). */
  remove: (id: string, path: string, recursive = false) =>
    request<void>(`${base(id)}/files`, { method: "DELETE", query: { path, recursive } }),
};

/** Where a file downloads, or a directory as a zip ("" = the whole folder). */
export function downloadUrl(id: string, path: string): string {
  // `path` is always sent, even empty: the root is a valid target.
  return `${buildUrl(`${base(id)}/download`)}?${new URLSearchParams({ path }).toString()}`;
}
