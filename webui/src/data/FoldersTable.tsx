// The "Folders" tab: every folder the user may use (own, project, shared with them).
import { DeleteOutlined, EditOutlined, FolderOpenOutlined, LogoutOutlined, MoreOutlined, ShareAltOutlined } from "@ant-design/icons";
import { Button, Dropdown, Space, Table, Tag, Tooltip, Typography } from "antd";
import type { MenuProps } from "antd";
import type { ColumnsType } from "antd/es/table";
import type { ReactNode } from "react";
import { formatTime } from "../format";
import FolderSize from "./FolderSize";
import { autoMountPath, PERMISSION_LABEL, USAGE_MODE_LABEL } from "./labels";
import type { Folder } from "./types";

export type FolderAction = "explore" | "edit" | "share" | "leave" | "trash";

interface Props {
  folders: Folder[];
  loading: boolean;
  empty: ReactNode;
  onAction: (action: FolderAction, folder: Folder) => void;
}

/** A long tag wraps inside its cell (a phone's name column) instead of spilling over. */
const WRAP = { whiteSpace: "normal", overflowWrap: "anywhere", marginInlineEnd: 4 } as const;

/** Columns shown from a small tablet up (antd breakpoint sm, 576 px). */
const WIDE = ["sm" as const];

/** Whether {@link FolderTags} shows anything (an empty tag row would unbalance the row). */
export function hasTags(folder: Folder): boolean {
  return folder.shared_with_me || folder.owner_kind === "project" || folder.auto_mount;
}

/** How sessions mount it: read-write only when both the folder and your access allow it. */
export function mountPermission(folder: Folder): Folder["permission"] {
  return folder.permission === "rw" && folder.my_permission === "rw" ? "rw" : "ro";
}

export function FolderTags({ folder }: { folder: Folder }) {
  return (
    <>
      {folder.shared_with_me && <Tag color="blue">shared with you</Tag>}
      {folder.owner_kind === "project" && <Tag color="purple">project</Tag>}
      {folder.auto_mount && (
        <Tooltip title="Mounted into every session of its owner">
          <Tag color="gold" style={WRAP}>
            auto-mounted at {autoMountPath(folder.name)}
          </Tag>
        </Tooltip>
      )}
    </>
  );
}

function menuItems(folder: Folder): MenuProps["items"] {
  if (!folder.is_owner) {
    return folder.shared_with_me
      ? [{ key: "leave", icon: <LogoutOutlined />, label: "Leave", danger: true }]
      : [];
  }
  return [
    { key: "edit", icon: <EditOutlined />, label: "Edit" },
    { key: "share", icon: <ShareAltOutlined />, label: "Share" },
    { type: "divider" },
    { key: "trash", icon: <DeleteOutlined />, label: "Delete", danger: true },
  ];
}

export default function FoldersTable({ folders, loading, empty, onAction }: Props) {
  const columns: ColumnsType<Folder> = [
    {
      title: "Name",
      dataIndex: "name",
      sorter: (a, b) => a.name.localeCompare(b.name),
      defaultSortOrder: "ascend",
      render: (name: string, f) => (
        <Space direction="vertical" size={2} style={{ minWidth: 0, maxWidth: "100%" }}>
          <Button
            type="link"
            style={{ padding: 0, height: "auto", maxWidth: "100%", whiteSpace: "normal", textAlign: "left", wordBreak: "break-all" }}
            onClick={() => onAction("explore", f)}
            data-testid="folder-name"
          >
            {name}
          </Button>
          {hasTags(f) && (
            <Space size={[0, 4]} wrap>
              <FolderTags folder={f} />
            </Space>
          )}
        </Space>
      ),
    },
    {
      title: "Owner",
      dataIndex: "owner_name",
      responsive: ["md"],
      ellipsis: true,
      sorter: (a, b) => a.owner_name.localeCompare(b.owner_name),
      render: (owner: string, f) => (f.is_owner && f.owner_kind === "user" ? <Typography.Text>you</Typography.Text> : owner),
    },
    {
      title: "Usage",
      dataIndex: "usage_mode",
      width: 90,
      responsive: ["lg"],
      render: (m: Folder["usage_mode"]) => USAGE_MODE_LABEL[m],
    },
    {
      title: "Permission",
      key: "permission",
      width: 120,
      responsive: WIDE,
      render: (_, f) => {
        const p = mountPermission(f);
        return (
          <Tooltip title={`Sessions mount it ${PERMISSION_LABEL[p].toLowerCase()}; in the explorer you may ${f.my_permission === "rw" ? "read and change" : "only read"} its files`}>
            <Tag color={p === "rw" ? "green" : "default"}>{PERMISSION_LABEL[p]}</Tag>
          </Tooltip>
        );
      },
    },
    {
      title: "Size",
      key: "size",
      width: 90,
      align: "right",
      sorter: (a, b) => (a.usage_bytes ?? -1) - (b.usage_bytes ?? -1),
      render: (_, f) => <FolderSize folder={f} />,
    },
    {
      title: "Created",
      dataIndex: "created_at",
      width: 170,
      responsive: ["lg"],
      sorter: (a, b) => a.created_at.localeCompare(b.created_at),
      render: (t: string) => formatTime(t),
    },
    {
      title: <span className="visually-hidden">Actions</span>,
      key: "actions",
      width: 88,
      align: "right",
      render: (_, f) => {
        const items = menuItems(f);
        return (
          <Space size={0}>
            <Tooltip title="Explore files">
              <Button type="text" icon={<FolderOpenOutlined />} aria-label={`Explore ${f.name}`} onClick={() => onAction("explore", f)} />
            </Tooltip>
            {items && items.length > 0 && (
              <Dropdown trigger={["click"]} menu={{ items, onClick: (e) => onAction(e.key as FolderAction, f) }}>
                <Button type="text" icon={<MoreOutlined />} aria-label={`Actions for ${f.name}`} data-testid="folder-actions" />
              </Dropdown>
            )}
          </Space>
        );
      },
    },
  ];

  return (
    <Table<Folder>
      rowKey="id"
      size="middle"
      columns={columns}
      dataSource={folders}
      loading={loading}
      tableLayout="fixed"
      locale={{ emptyText: loading ? <div style={{ height: 120 }} /> : empty }}
      pagination={{ defaultPageSize: 20, hideOnSinglePage: true, showSizeChanger: true }}
    />
  );
}
