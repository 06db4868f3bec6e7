// The storage API's rules for folder names and paths inside a folder (storage-api.md), checked
// in the browser first so the message shows at once; the server checks them again.
import { utf8Length } from "../rules";

export const FOLDER_NAME_MAX = 64;
const FOLDER_NAME_RE = /^[A-Za-z0-9._-]+$/;
/** Bytes of one path component and of a whole path. */
export const PATH_COMPONENT_MAX = 255;
export const PATH_MAX = 4096;

/** The message for a bad folder name, or null when it follows the rules. */
export function folderNameError(name: string): string | null {
  if (name.length === 0) return "enter a name";
  if (name.length > FOLDER_NAME_MAX) return `must be at most ${FOLDER_NAME_MAX} characters long`;
  if (!FOLDER_NAME_RE.test(name)) {
    return "may use only ASCII letters, digits, '.', '_' and '-' (no spaces or slashes)";
  }
  if (name === "." || name === "..") return `"${name}" is not a folder name`;
  return null;
}

/** Mounted into every session of the owner at /home/work/.NAME. */
export function isAutoMounted(name: string): boolean {
  return name.startsWith(".");
}

/** The message for a bad path relative to a folder's root (a file or directory to create or
 * move to), or null. The root itself ("" or "/"-only) is not a valid target; empty parts are
 * skipped (send it through joinPath). */
export function relativePathError(path: string): string | null {
  if (path.trim() === "") return "enter a path";
  if (path.startsWith("/")) return "must be relative to the folder (no leading '/')";
  if (path.includes("\0")) return "must not contain a NUL character";
  if (utf8Length(path) > PATH_MAX) return `must be at most ${PATH_MAX} bytes long`;
  const parts = path.split("/").filter((p) => p !== ""); // "a//b/" is "a/b", as on the server
  if (parts.length === 0) return "enter a path";
  for (const part of parts) {
    if (part === "." || part === "..") return "must not contain '.' or '..' parts";
    if (utf8Length(part) > PATH_COMPONENT_MAX) {
      return `each part must be at most ${PATH_COMPONENT_MAX} bytes long`;
    }
  }
  return null;
}

/** The message for a bad name of one new entry (no slashes), or null. */
export function entryNameError(name: string): string | null {
  if (name.includes("/")) return "must be a single name without '/'";
  return relativePathError(name);
}

/** Joins relative paths, skipping empty parts: ("", "a") -> "a", ("a/b", "c") -> "a/b/c". */
export function joinPath(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split("/"))
    .filter((p) => p !== "")
    .join("/");
}

/** "a/b/c" -> "a/b"; "a" -> "". */
export function parentPath(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** "a/b/c" -> "c". */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The breadcrumb trail of a directory: "a/b" -> [{name "a", path "a"}, {name "b", path "a/b"}]. */
export function pathCrumbs(path: string): { name: string; path: string }[] {
  const parts = path.split("/").filter((p) => p !== "");
  return parts.map((name, i) => ({ name, path: parts.slice(0, i + 1).join("/") }));
}
