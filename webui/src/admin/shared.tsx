// Bits every admin page shares: loading a list, the page's header, the server's refusals on
// the fields they name, and how limits read ("unlimited" for an empty one).
import { PlusOutlined, ReloadOutlined } from "@ant-design/icons";
import { Alert, Button, Empty, Space, Typography, type FormInstance } from "antd";
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
