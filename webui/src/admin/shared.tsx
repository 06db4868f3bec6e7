// Bits every admin page shares: loading a list, the page's header and table, editing and
// deleting a row, the server's refusals on the fields they name, and how limits read
// ("unlimited" for an empty one).
import { DeleteOutlined, EditOutlined, PlusOutlined, ReloadOutlined } from "@ant-design/icons";
import {
  Alert,
  App,
  Button,
  Empty,
  Popconfirm,
  Space,
  Table,
  Typography,
  type FormInstance,
  type TableColumnsType,
  type TableProps,
} from "antd";
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api";
import { formatBytes, formatCpu, formatSeconds } from "../format";

export interface ListState<T> {
  data: T[] | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Loads a list once and on reload(); keeps the last data while reloading. */
export function useList<T>(load: () => Promise<T[]>): ListState<T> {
  const [data, setData] = useState<T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const loader = useRef(load);
  loader.current = load;
  const reload = useCallback(() => {
    setLoading(true);
    loader.current().then(
      (list) => {
        setData(list);
        setError(null);
        setLoading(false);
      },
      (e: Error) => {
        setError(e.message);
        setLoading(false);
      },
    );
  }, []);
  useEffect(reload, [reload]);
  return { data, error, loading, reload };
}

export function PageHeader({
  title,
  intro,
  onCreate,
  createLabel,
  onReload,
}: {
  title: string;
  intro: ReactNode;
  onCreate?: () => void;
  createLabel?: string;
  onReload: () => void;
}) {
  return (
    <div style={{ display: "flex", flexWrap: "wrap", gap: 8, alignItems: "flex-start", marginBottom: 12 }}>
      <div style={{ flex: "1 1 320px", minWidth: 0 }}>
        <Typography.Title level={3} style={{ marginTop: 0, marginBottom: 4 }}>
          {title}
        </Typography.Title>
        <Typography.Text type="secondary">{intro}</Typography.Text>
      </div>
      <Space>
        <Button icon={<ReloadOutlined />} onClick={onReload} aria-label="Reload" />
        {onCreate && (
          <Button type="primary" icon={<PlusOutlined />} onClick={onCreate}>
            {createLabel}
          </Button>
        )}
      </Space>
    </div>
  );
}

export function LoadError({ error }: { error: string | null }) {
  return error ? <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} /> : null;
}

/** The table's empty state: what the page is for and the button to make the first one. */
export function emptyState(text: string, onCreate?: () => void, createLabel?: string) {
  return (
    <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={text}>
      {onCreate && (
        <Button type="primary" icon={<PlusOutlined />} onClick={onCreate}>
          {createLabel}
        </Button>
      )}
    </Empty>
  );
}

/** A row's editor and its removal: `editing` is the row in the dialog ("new" for a new one,
 * null: closed); saved() and remove() say so as "<label> <name> saved/deleted" and reload. */
export function useRowEditor<T extends { name: string }>(
  list: ListState<T>,
  label: string,
  deleteRow: (row: T) => Promise<unknown>,
) {
  const { message } = App.useApp();
  const [editing, setEditing] = useState<T | "new" | null>(null);
  const saved = (row: T) => {
    message.success(`${label} ${row.name} saved`);
    setEditing(null);
    list.reload();
  };
  const remove = async (row: T) => {
    try {
      await deleteRow(row);
      message.success(`${label} ${row.name} deleted`);
      list.reload();
    } catch (e) {
      message.error(`Could not delete ${row.name}: ${(e as Error).message}`);
    }
  };
  return { editing, setEditing, saved, remove };
}

/** A row's Edit button, any `extra` buttons, and Delete behind a confirmation. */
export function RowActions({
  name,
  what,
  refusedWhile,
  onEdit,
  onDelete,
  editText = "Edit",
  extra,
}: {
  name: string;
  /** The kind of row in the confirmation: "Delete the <what> <name>?" */
  what: string;
  refusedWhile?: string;
  onEdit: () => void;
  /** Its promise keeps the confirmation busy until the deletion is done. */
  onDelete: () => Promise<void> | void;
  editText?: ReactNode;
  extra?: ReactNode;
}) {
  return (
    <Space>
      <Button size="small" icon={<EditOutlined />} onClick={onEdit} aria-label={`Edit ${name}`}>
        {editText}
      </Button>
      {extra}
      <Popconfirm
        title={`Delete the ${what} ${name}?`}
        description={refusedWhile}
        okText="Delete"
        okButtonProps={{ danger: true }}
        onConfirm={onDelete}
      >
        <Button size="small" danger icon={<DeleteOutlined />} aria-label={`Delete ${name}`} />
      </Popconfirm>
    </Space>
  );
}

/** An admin list page: its header, the list's load error, the table (with an actions column
 * last when `actions` is given, and `emptyText` with the create button when empty), then
 * `children` (the page's dialogs). */
export function AdminListPage<T extends object>({
  testId,
  title,
  intro,
  list,
  rowKey,
  columns,
  actions,
  emptyText,
  onCreate,
  createLabel,
  loading = list.loading,
  children,
}: {
  testId: string;
  title: string;
  intro: ReactNode;
  list: ListState<T>;
  rowKey: TableProps<T>["rowKey"];
  columns: TableColumnsType<T>;
  actions?: (row: T) => ReactNode;
  emptyText: string;
  onCreate?: () => void;
  createLabel?: string;
  loading?: boolean;
  children?: ReactNode;
}) {
  const all: TableColumnsType<T> = actions
    ? [...columns, { title: "", key: "actions", render: (_: unknown, row: T) => actions(row) }]
    : columns;
  return (
    <div data-testid={testId}>
      <PageHeader title={title} intro={intro} onCreate={onCreate} createLabel={createLabel} onReload={list.reload} />
      <LoadError error={list.error} />
      <Table<T>
        rowKey={rowKey}
        size="middle"
        loading={loading}
        dataSource={list.data ?? []}
        pagination={false}
        scroll={{ x: "max-content" }}
        locale={{ emptyText: emptyState(emptyText, onCreate, createLabel) }}
        columns={all}
      />
      {children}
    </div>
  );
}

/** Puts a refusal's messages on the form's fields; `fields` maps the server's field path
 * ("slots.cpu", "total_slots.mem") to the form's field name. Returns the text left for an
 * alert above the form, or null when every message found its field. */
export function applyErrors(
  form: FormInstance,
  error: unknown,
  fields: Record<string, string> | readonly string[],
): string | null {
  if (!(error instanceof ApiError)) return (error as Error)?.message ?? String(error);
  const map: Record<string, string> = Array.isArray(fields)
    ? Object.fromEntries((fields as string[]).map((f) => [f, f]))
    : (fields as Record<string, string>);
  const byField = new Map<string, string[]>();
  let left = 0;
  for (const fe of error.fields) {
    const target = map[fe.field] ?? map[fe.field.split(".")[0]];
    if (target) byField.set(target, [...(byField.get(target) ?? []), fe.message]);
    else left += 1;
  }
  form.setFields([...byField].map(([name, errors]) => ({ name, errors })));
  if (byField.size > 0 && left === 0) return null;
  return error.message;
}

export const UNLIMITED = "unlimited";

export function limitText(value: number | null | undefined, show: (n: number) => string = String): string {
  return value === null || value === undefined ? UNLIMITED : show(value);
}

export function slotText(slot: string, value: string | undefined): string {
  if (value === undefined) return UNLIMITED;
  if (slot === "cpu") return formatCpu(value);
  if (slot === "mem" || slot === "shmem") return formatBytes(value);
  return value;
}

export function secondsText(value: number | null | undefined): string {
  return value === null || value === undefined ? UNLIMITED : formatSeconds(value);
}

export const GIB = 2 ** 30;
export const MIB = 2 ** 20;

/** GiB in a form -> the bytes the API takes (as a decimal string). */
export function gibToBytes(v: number | null | undefined): string | undefined {
  return v === null || v === undefined ? undefined : String(Math.round(v * GIB));
}

export function bytesToGib(v: string | undefined): number | null {
  return v === undefined ? null : Math.round((Number(v) / GIB) * 1000) / 1000;
}
