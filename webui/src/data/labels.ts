// Words for the storage folders' fields, one place for every table and form.
import type { Permission, UsageMode } from "./types";

export const USAGE_MODES: { value: UsageMode; label: string; help: string }[] = [
  { value: "general", label: "General", help: "any files: code, notes, results" },
  { value: "data", label: "Data", help: "data sets to read in sessions" },
  { value: "model", label: "Model", help: "model weights and checkpoints" },
];

export const USAGE_MODE_LABEL: Record<UsageMode, string> = {
  general: "General",
  data: "Data",
  model: "Model",
};

export const PERMISSION_LABEL: Record<Permission, string> = {
  rw: "Read-write",
  ro: "Read-only",
};

/** Where a dot-folder appears in its owner's sessions. */
export function autoMountPath(name: string): string {
  return `/home/work/${name}`;
}
