// Recent history: the 5 most recent launches and the pinned ones (from /api/launches).
import { DeleteOutlined, EditOutlined, PushpinFilled, PushpinOutlined } from "@ant-design/icons";
import { Button, Card, Empty, Input, List, Tooltip, Typography } from "antd";
import { useRef, useState } from "react";
import { ApiError } from "../api";
import { formatTime } from "../format";
import { launcherApi, type Launch } from "./launcherApi";
import { useToast } from "../notifications/toast";

interface Props {
  launches: Launch[] | null;
  onChanged: () => void;
  onOpen: (launch: Launch) => void;
}

function describe(l: Launch): string {
  const p = l.params as { type?: string; image?: string };
  return `${p.type === "batch" ? "Batch" : "Interactive"} · ${p.image ?? ""}`;
}

export default function RecentHistory({ launches, onChanged, onOpen }: Props) {
  const toast = useToast();
  const [editing, setEditing] = useState<string | null>(null);
  const [draft, setDraft] = useState("");
  // Enter or Esc closes the field; the blur that follows must not save again (or at all).
  const done = useRef(false);

  const run = async (what: Promise<unknown>) => {
    try {
      await what;
      onChanged();
    } catch (e) {
      toast.error(e instanceof ApiError ? e.message : String(e));
    }
  };
  const save = (l: Launch) => {
    if (done.current) return;
    done.current = true;
    const label = draft.trim();
    setEditing(null);
    if (label && label !== l.label) void run(launcherApi.updateLaunch(l.id, { label }));
  };

  return (
    <Card size="small" title="Recent history" data-testid="recent-history" styles={{ body: { padding: 0 } }}>
      {launches === null ? (
        <div style={{ padding: 12 }}>
          <Typography.Text type="secondary">Loading…</Typography.Text>
        </div>
      ) : launches.length === 0 ? (
        <Empty
          image={Empty.PRESENTED_IMAGE_SIMPLE}
          description="Your launches appear here"
          style={{ margin: "12px 0" }}
        />
      ) : (
        <List
          size="small"
          dataSource={launches}
          renderItem={(l) => (
            <List.Item data-testid="recent-item" style={{ padding: "6px 8px 6px 12px", display: "block" }}>
              {editing === l.id ? (
                <Input
                  size="small"
                  autoFocus
                  aria-label="New label"
                  value={draft}
                  maxLength={64}
                  onChange={(e) => setDraft(e.target.value)}
                  onPressEnter={() => save(l)}
                  onBlur={() => save(l)}
                  onKeyDown={(e) => {
                    if (e.key === "Escape") {
                      done.current = true;
                      setEditing(null);
                    }
                  }}
                />
              ) : (
                <div style={{ display: "flex", alignItems: "center", gap: 2 }}>
                  <Typography.Link
                    href="#"
                    onClick={(e) => {
                      e.preventDefault();
                      onOpen(l);
                    }}
                    ellipsis
                    style={{ flex: 1, minWidth: 0 }}
                    title={`Open ${l.label} in Confirm & launch`}
                  >
                    {l.label}
                  </Typography.Link>
                  <Tooltip title={l.pinned ? "Unpin" : "Pin (kept beyond the 5 most recent)"}>
                    <Button
                      type="text"
                      size="small"
                      aria-label={l.pinned ? `Unpin ${l.label}` : `Pin ${l.label}`}
                      aria-pressed={l.pinned}
                      icon={l.pinned ? <PushpinFilled style={{ color: "#1677ff" }} /> : <PushpinOutlined />}
                      onClick={() => void run(launcherApi.updateLaunch(l.id, { pinned: !l.pinned }))}
                    />
                  </Tooltip>
                  <Tooltip title="Rename">
                    <Button
                      type="text"
                      size="small"
                      aria-label={`Rename ${l.label}`}
                      icon={<EditOutlined />}
                      onClick={() => {
                        done.current = false;
                        setEditing(l.id);
                        setDraft(l.label);
                      }}
                    />
                  </Tooltip>
                  <Tooltip title="Remove from history">
                    <Button
                      type="text"
                      size="small"
                      aria-label={`Remove ${l.label}`}
                      icon={<DeleteOutlined />}
                      onClick={() => void run(launcherApi.deleteLaunch(l.id))}
                    />
                  </Tooltip>
                </div>
              )}
              <Typography.Text type="secondary" ellipsis style={{ fontSize: 12, display: "block" }}>
                {formatTime(l.created_at).slice(5, 16)} · {describe(l)}
              </Typography.Text>
            </List.Item>
          )}
        />
      )}
    </Card>
  );
}
