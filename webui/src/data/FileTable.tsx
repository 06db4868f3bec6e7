// One directory of a folder: entries sorted and paged by the server, dirs open on click.
import {
  DeleteOutlined,
  DownloadOutlined,
  EditOutlined,
  FileOutlined,
  FolderFilled,
  LinkOutlined,
  QuestionOutlined,
} from "@ant-design/icons";
import { Button, Grid, Space, Table, Tooltip, Typography } from "antd";
import type { ColumnsType, TablePaginationConfig } from "antd/es/table";
import type { SorterResult } from "antd/es/table/interface";
import type { ReactNode } from "react";
import { formatBytes, formatTime } from "../format";
import { downloadUrl } from "./foldersApi";
import type { FileEntry, FileSort, SortOrder } from "./types";

export interface FileView {
  sort: FileSort;
  order: SortOrder;
  page: number;
  size: number;
}

export const PAGE_SIZES = [50, 100, 200, 500, 1000];

interface Props {
  folderId: string;
  entries: FileEntry[];
  total: number;
  loading: boolean;
  view: FileView;
  writable: boolean;
  empty: ReactNode;
  onView: (view: FileView) => void;
  onEnter: (dir: string) => void;
  onMove: (entry: FileEntry) => void;
  onDelete: (entry: FileEntry) => void;
}

const ICONS: Record<FileEntry["type"], ReactNode> = {
  dir: <FolderFilled style={{ color: "#faad14" }} />,
  file: <FileOutlined />,
  symlink: <LinkOutlined />,
  other: <QuestionOutlined />,
};

const TYPE_LABEL: Record<FileEntry["type"], string> = {
  dir: "Directory",
  file: "File",
  symlink: "Symbolic link",
  other: "Other",
};

const ORDER = { asc: "ascend", desc: "descend" } as const;

export default function FileTable(props: Props) {
  const { view } = props;
  const phone = Grid.useBreakpoint().sm === false;
  const sortable = (key: FileSort) => ({
    key,
    sorter: true,
    sortOrder: view.sort === key ? ORDER[view.order] : null,
    sortDirections: ["ascend", "descend", "ascend"] as ("ascend" | "descend")[],
  });

  const columns: ColumnsType<FileEntry> = [
    {
      title: "Name",
      dataIndex: "name",
      ...sortable("name"),
      ellipsis: true,
      render: (name: string, e) => (
        <Space size={6} style={{ maxWidth: "100%" }}>
          {ICONS[e.type]}
          {e.type === "dir" ? (
            <Button
              type="link"
              style={{ padding: 0, height: "auto" }}
              onClick={() => props.onEnter(e.path)}
              data-testid="entry-dir"
            >
              {name}
            </Button>
          ) : (
            <Typography.Text data-testid="entry-file">{name}</Typography.Text>
          )}
        </Space>
      ),
    },
    {
      title: "Size",
      dataIndex: "size",
      ...sortable("size"),
      width: 100,
      align: "right",
      render: (size: number, e) => (e.type === "file" ? formatBytes(size) : "—"),
    },
    {
      title: "Modified",
      dataIndex: "modified",
      ...sortable("modified"),
      width: 180,
      responsive: ["md"],
      render: (t: string) => formatTime(t),
    },
    {
      title: "Type",
      dataIndex: "type",
      ...sortable("type"),
      width: 120,
      responsive: ["md"],
      render: (t: FileEntry["type"]) => TYPE_LABEL[t],
    },
    {
      title: <span className="visually-hidden">Actions</span>,
      key: "actions",
      width: props.writable ? 112 : 48,
      align: "right",
      render: (_, e) => (
        <Space size={0}>
          <Tooltip title={e.type === "dir" ? "Download as zip" : e.type === "file" ? "Download" : "Only files and directories download"}>
            <Button
              type="text"
              size="small"
              icon={<DownloadOutlined />}
              href={e.type === "dir" || e.type === "file" ? downloadUrl(props.folderId, e.path) : undefined}
              disabled={e.type !== "dir" && e.type !== "file"}
              aria-label={`Download ${e.name}`}
            />
          </Tooltip>
          {props.writable && (
            <Tooltip title="Rename or move">
              <Button type="text" size="small" icon={<EditOutlined />} aria-label={`Rename ${e.name}`} onClick={() => props.onMove(e)} />
            </Tooltip>
          )}
          {props.writable && (
            <Tooltip title="Delete">
              <Button type="text" size="small" danger icon={<DeleteOutlined />} aria-label={`Delete ${e.name}`} onClick={() => props.onDelete(e)} />
            </Tooltip>
          )}
        </Space>
      ),
    },
  ];

  const onChange = (
    pagination: TablePaginationConfig,
    _filters: unknown,
    sorter: SorterResult<FileEntry> | SorterResult<FileEntry>[],
  ) => {
    const one = Array.isArray(sorter) ? sorter[0] : sorter;
    const next: FileView = { ...view, page: pagination.current ?? 1, size: pagination.pageSize ?? view.size };
    if (one && one.columnKey) {
      const order = one.order === "ascend" ? "asc" : one.order === "descend" ? "desc" : null;
      next.sort = order ? (String(one.columnKey) as FileSort) : "name";
      next.order = order ?? "asc";
      if (next.sort !== view.sort || next.order !== view.order) next.page = 1;
    }
    props.onView(next);
  };

  return (
    <Table<FileEntry>
      rowKey="path"
      size="small"
      columns={columns}
      dataSource={props.entries}
      loading={props.loading}
      onChange={onChange}
      tableLayout="fixed"
      locale={{ emptyText: props.loading ? <div style={{ height: 120 }} /> : props.empty }}
      pagination={{
        current: view.page,
        pageSize: view.size,
        total: props.total,
        showSizeChanger: !phone,
        pageSizeOptions: PAGE_SIZES,
        hideOnSinglePage: true,
        showTotal: phone ? undefined : (total, [from, to]) => `${from}-${to} of ${total}`,
        size: "small",
      }}
    />
  );
}
