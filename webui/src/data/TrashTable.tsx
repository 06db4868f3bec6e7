// The "Trash" tab: the user's deleted folders, to restore or delete for good.
import { DeleteOutlined, UndoOutlined } from "@ant-design/icons";
import { Button, Space, Table, Tooltip } from "antd";
import type { ColumnsType } from "antd/es/table";
import type { ReactNode } from "react";
import { formatTime } from "../format";
import FolderSize from "./FolderSize";
import type { Folder } from "./types";

interface Props {
  folders: Folder[];
  loading: boolean;
  empty: ReactNode;
  onRestore: (folder: Folder) => void;
  onPurge: (folder: Folder) => void;
}

export default function TrashTable({ folders, loading, empty, onRestore, onPurge }: Props) {
  const columns: ColumnsType<Folder> = [
    {
      title: "Name",
      dataIndex: "name",
      ellipsis: true,
      sorter: (a, b) => a.name.localeCompare(b.name),
      render: (name: string) => <span data-testid="trash-name">{name}</span>,
    },
    {
      title: "Owner",
      dataIndex: "owner_name",
      responsive: ["md"],
      ellipsis: true,
      render: (owner: string, f: Folder) => (f.owner_kind === "user" && f.is_owner ? "you" : owner),
    },
    {
      title: "Deleted",
      dataIndex: "trashed_at",
      width: 170,
      responsive: ["sm"],
      defaultSortOrder: "descend",
      sorter: (a, b) => (a.trashed_at ?? "").localeCompare(b.trashed_at ?? ""),
      render: (t: string | null) => formatTime(t),
    },
    {
      title: "Size",
      key: "size",
      width: 90,
      align: "right",
      responsive: ["sm"],
      render: (_, f) => <FolderSize folder={f} />,
    },
    {
      title: <span className="visually-hidden">Actions</span>,
      key: "actions",
      width: 88,
      align: "right",
      render: (_, f) => (
        <Space size={0}>
          <Tooltip title="Restore">
            <Button type="text" icon={<UndoOutlined />} aria-label={`Restore ${f.name}`} onClick={() => onRestore(f)} />
          </Tooltip>
          <Tooltip title="Delete for good">
            <Button type="text" danger icon={<DeleteOutlined />} aria-label={`Delete ${f.name} for good`} onClick={() => onPurge(f)} />
          </Tooltip>
        </Space>
      ),
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
