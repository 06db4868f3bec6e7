import { PlusOutlined, PoweroffOutlined, ReloadOutlined } from "@ant-design/icons";
import { Alert, Badge, Button, Card, Input, Segmented, Space, Tabs, Tooltip, Typography } from "antd";
import { useEffect, useMemo, useState } from "react";
import { useNavigate } from "react-router-dom";
import AppLauncher, { type AppsTarget } from "../apps/AppLauncher";
import { isAdmin, useUser } from "../auth";
import type { SessionCounts } from "../types";
import { useListView, type StateKey, type TabKey } from "./query";
import SessionDrawer from "./SessionDrawer";
import SessionTable, { EmptySessions } from "./SessionTable";
import TerminateDialog, { type Target } from "./TerminateDialog";
import { useSessionList } from "./useSessionList";

function tabLabel(text: string, key: TabKey, counts: SessionCounts | null) {
  return (
    <span data-testid={`tab-${key}`}>
      {text}{" "}
      <Badge
        count={counts ? counts[key] : 0}
        showZero
        overflowCount={9999}
        color={counts ? "#8c8c8c" : "#d9d9d9"}
        data-testid={`count-${key}`}
      />
    </span>
  );
}

export default function SessionsPage() {
  const user = useUser();
  const navigate = useNavigate();
  const [view, setView] = useListView();
  const list = useSessionList(view);
  const [selected, setSelected] = useState<string[]>([]);
  const [terminating, setTerminating] = useState<Target[]>([]);
  const [apps, setApps] = useState<AppsTarget | null>(null);
  const [filter, setFilter] = useState(view.name);

  // Debounce typing into the URL (and so into the query).
  useEffect(() => {
    if (filter === view.name) return;
    const t = window.setTimeout(() => setView({ name: filter, page: 1 }), 300);
    return () => window.clearTimeout(t);
  }, [filter, view.name, setView]);

  // Forget selections that left the page or ended.
  const visible = useMemo(
    () => new Set(list.items.filter((s) => !["TERMINATED", "CANCELLED", "ERROR"].includes(s.status)).map((s) => s.id)),
    [list.items],
  );
  useEffect(() => {
    setSelected((old) => old.filter((id) => visible.has(id)));
  }, [visible]);

  const start = (
    <Button type="primary" icon={<PlusOutlined />} onClick={() => navigate("/launch")}>
      Start
    </Button>
  );
  const emptyText = view.name
    ? `No ${view.state} sessions match "${view.name}"`
    : view.state === "running"
      ? "No running sessions. Start one to get going."
      : "No finished sessions yet";

  return (
    <Card
      title={<Typography.Title level={4} style={{ margin: 0 }}>Sessions</Typography.Title>}
      extra={start}
      styles={{ body: { paddingTop: 0 } }}
    >
      <Tabs
        activeKey={view.tab}
        onChange={(tab) => setView({ tab: tab as TabKey, page: 1 })}
        items={[
          { key: "all", label: tabLabel("All", "all", list.counts) },
          { key: "interactive", label: tabLabel("Interactive", "interactive", list.counts) },
          { key: "batch", label: tabLabel("Batch", "batch", list.counts) },
        ]}
      />
      <Space wrap style={{ marginBottom: 16, width: "100%", justifyContent: "space-between" }}>
        <Space wrap>
          <Segmented<StateKey>
            value={view.state}
            onChange={(state) => setView({ state, page: 1 })}
            options={[
              { label: "Running", value: "running" },
              { label: "Finished", value: "finished" },
            ]}
            data-testid="state-switch"
          />
          <Input.Search
            allowClear
            placeholder="Filter by name"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            onSearch={(v) => setView({ name: v, page: 1 })}
            style={{ width: 260 }}
            aria-label="Filter by name"
          />
          <Tooltip title="Refresh">
            <Button icon={<ReloadOutlined />} onClick={list.reload} aria-label="Refresh" />
          </Tooltip>
        </Space>
        {selected.length > 0 && (
          <Space>
            <Typography.Text type="secondary">{selected.length} selected</Typography.Text>
            <Button
              danger
              icon={<PoweroffOutlined />}
              onClick={() =>
                setTerminating(
                  list.items
                    .filter((s) => selected.includes(s.id))
                    .map((s) => ({ id: s.id, name: s.name })),
                )
              }
            >
              Terminate selected
            </Button>
          </Space>
        )}
      </Space>
      {list.error && (
        <Alert
          type="error"
          showIcon
          message="Could not load sessions"
          description={list.error.message}
          style={{ marginBottom: 16 }}
        />
      )}
      <SessionTable
        items={list.items}
        total={list.total}
        loading={list.loading}
        view={view}
        showOwner={isAdmin(user)}
        selected={selected}
        onSelect={setSelected}
        onView={setView}
        onOpen={(id) => setView({ session: id })}
        userId={user.id}
        onApps={(s) => setApps({ id: s.id, name: s.name })}
        empty={<EmptySessions text={emptyText} action={view.state === "running" && !view.name ? start : undefined} />}
      />
      <SessionDrawer
        sessionId={view.session}
        onClose={() => setView({ session: null })}
        onChanged={list.reload}
      />
      <AppLauncher target={apps} onClose={() => setApps(null)} />
      <TerminateDialog
        targets={terminating}
        onClose={() => setTerminating([])}
        onDone={() => {
          setSelected([]);
          list.reload();
        }}
      />
    </Card>
  );
}
