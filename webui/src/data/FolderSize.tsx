// A folder's measured size, "—" until the manager has measured it.
import { Tooltip } from "antd";
import { formatBytes, formatTime, plural } from "../format";
import type { Folder } from "./types";

export default function FolderSize({ folder }: { folder: Folder }) {
  if (folder.usage_bytes === null) {
    return (
      <Tooltip title="Not measured yet">
        <span data-testid="folder-size">—</span>
      </Tooltip>
    );
  }
  const partial = folder.usage_complete === false;
  const files = folder.usage_files === null ? "" : `${partial ? "at least " : ""}${plural(folder.usage_files, "file")}, `;
  const note = partial ? " (the count stopped early: it is a lower bound)" : "";
  return (
    <Tooltip title={`${files}measured ${formatTime(folder.usage_measured_at)}${note}`}>
      <span data-testid="folder-size">
        {partial ? "≥ " : ""}
        {formatBytes(folder.usage_bytes)}
      </span>
    </Tooltip>
  );
}
