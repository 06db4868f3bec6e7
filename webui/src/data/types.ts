// Shapes of the storage API (folders, shares, hosts, the file explorer). They come from the
// OpenAPI document (src/api-schema.d.ts, `npm run gen:api`) like src/types.ts.
import type { components } from "../api-schema";

type Schemas = components["schemas"];

/** A storage folder as GET /api/folders answers it. `usage_bytes` is null until measured;
 * `usage_complete` false: the count stopped early and the figures are a lower bound. */
export type Folder = Omit<Schemas["FolderOut"], "usage_complete"> & {
  /** Always sent by the API; optional here so that folders written before it (test data)
   * still type-check. Missing counts as true. */
  usage_complete?: boolean;
};
export type FolderCreate = Partial<Pick<Schemas["FolderCreate"], "usage_mode" | "permission">> &
  Omit<Schemas["FolderCreate"], "usage_mode" | "permission">;
export type FolderUpdate = Schemas["FolderUpdate"];
export type Share = Schemas["ShareOut"];
/** A storage host (superadmins only). */
export type StorageHost = Schemas["HostOut"];

export type UsageMode = Folder["usage_mode"];
export type Permission = Folder["permission"];
export type FolderStatus = Folder["status"];

/** One entry of a folder's directory; `path` is relative to the folder root. */
export type FileEntry = Schemas["EntryOut"];
export type EntryType = FileEntry["type"];
export type FileListing = Schemas["FileList"];

/** GET /api/folders/{id}/files?sort=&order= */
export type FileSort = "name" | "size" | "modified" | "type";
export type SortOrder = "asc" | "desc";
