// The Data page (/data): storage folders ("Folders") and the user's deleted ones ("Trash").
import { PlusOutlined, ReloadOutlined } from "@ant-design/icons";
import { Alert, App, Button, Card, Empty, Space, Tabs, Tooltip, Typography } from "antd";
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { ApiError } from "../api";
import { useUser } from "../auth";
import CreateFolderDialog from "./CreateFolderDialog";
import EditFolderDialog from "./EditFolderDialog";
import FolderExplorer from "./FolderExplorer";
import { foldersApi } from "./foldersApi";
import FoldersTable, { type FolderAction } from "./FoldersTable";
import RestoreDialog from "./RestoreDialog";
import ShareDialog from "./ShareDialog";
import TrashTable from "./TrashTable";
import type { Folder } from "./types";
import { useFolderList } from "./useFolderList";

type TabKey = "folders" | "trash";

export default function DataPage() {
  const user = useUser();
  const { message, modal } = App.useApp();
  const [params, setParams] = useSearchParams();
  const tab: TabKey = params.get("tab") === "trash" ? "trash" : "folders";
  const live = useFolderList(false);
  const trash = useFolderList(true, tab === "trash");
  const [creating, setCreating] = useState(false);
  const [explore, setExplore] = useState<{ folder: Folder; open: boolean } | null>(null);
  const [editing, setEditing] = useState<Folder | null>(null);
  const [sharing, setSharing] = useState<Folder | null>(null);
  const [restoring, setRestoring] = useState<{ folder: Folder; reason: string } | null>(null);

  const reloadAll = () => {
    live.reload();
    if (tab === "trash") trash.reload();
  };

  const moveToTrash = (f: Folder) =>
    modal.confirm({
      title: `Delete the folder "${f.name}"?`,
      content: "It moves to the trash: sessions can no longer mount it, and you can restore it from the Trash tab until you delete it for good.",
      okText: "Move to trash",
      okButtonProps: { danger: true },
      onOk: async () => {
        try {
          await foldersApi.trash(f.id);
        } catch (e) {
          message.error(`Could not delete "${f.name}": ${(e as Error).message}`);
          return;
        }
        message.success(`"${f.name}" moved to trash; restore it from the Trash tab`);
        reloadAll();
      },
    });

  const leave = (f: Folder) =>
    modal.confirm({
      title: `Leave "${f.name}"?`,
      content: `It is no longer shared with you; ${f.owner_name} can share it again.`,
      okText: "Leave",
      okButtonProps: { danger: true },
      onOk: async () => {
        try {
          await foldersApi.unshare(f.id, user.id);
        } catch (e) {
          message.error(`Could not leave "${f.name}": ${(e as Error).message}`);
          return;
        }
        message.success(`You left "${f.name}"`);
        live.reload();
      },
    });

  const onAction = (action: FolderAction, f: Folder) => {
    if (action === "explore") setExplore({ folder: f, open: true });
    if (action === "edit") setEditing(f);
    if (action === "share") setSharing(f);
    if (action === "leave") leave(f);
    if (action === "trash") moveToTrash(f);
  };

  const restore = async (f: Folder) => {
    try {
      await foldersApi.restore(f.id);
    } catch (e) {
      // The old name is taken again (or no longer allowed): ask for another.
      if (e instanceof ApiError && (e.status === 409 || e.status === 422)) {
        setRestoring({ folder: f, reason: e.fieldMessage("name") ?? e.message });
      } else {
        message.error(`Could not restore "${f.name}": ${(e as Error).message}`);
      }
      return;
    }
    message.success(`Restored "${f.name}"`);
    reloadAll();
  };

  const purge = (f: Folder) =>
    modal.confirm({
      title: `Delete "${f.name}" for good?`,
      content: "Every file in it is deleted. This cannot be undone.",
      okText: "Delete for good",
      okButtonProps: { danger: true },
      onOk: async () => {
        try {
          await foldersApi.purge(f.id);
        } catch (e) {
          message.error(`Could not delete "${f.name}": ${(e as Error).message}`);
          return;
        }
        message.success(`"${f.name}" deleted for good`);
        trash.reload();
      },
    });

  const newFolder = (
    <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)}>
      New folder
    </Button>
  );
  const current = tab === "trash" ? trash : live;

  return (
    <Card
      title={<Typography.Title level={4} style={{ margin: 0 }}>Data</Typography.Title>}
      extra={
        <Space>
          <Tooltip title="Refresh">
            <Button icon={<ReloadOutlined />} onClick={current.reload} aria-label="Refresh" />
          </Tooltip>
          {newFolder}
        </Space>
      }
      styles={{ body: { paddingTop: 0 } }}
    >
      <Tabs
        activeKey={tab}
        onChange={(key) => setParams(key === "trash" ? { tab: "trash" } : {}, { replace: true })}
        items={[
          { key: "folders", label: "Folders" },
          { key: "trash", label: "Trash" },
        ]}
      />
      {current.error && (
        <Alert
          type="error"
          showIcon
          message={tab === "trash" ? "Could not load the trash" : "Could not load the folders"}
          description={current.error}
          action={<Button size="small" onClick={current.reload}>Retry</Button>}
          style={{ marginBottom: 16 }}
        />
      )}
      {tab === "folders" ? (
        <FoldersTable
          folders={live.folders}
          loading={live.loading}
          onAction={onAction}
          empty={
            <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="No folders yet. Create one to keep data across sessions.">
              {newFolder}
            </Empty>
          }
        />
      ) : (
        <>
          <Typography.Paragraph type="secondary">
            Deleted folders keep their files here until you delete them for good. Sessions cannot
            mount them; restore one to use it again.
          </Typography.Paragraph>
          <TrashTable
            folders={trash.folders}
            loading={trash.loading}
            onRestore={(f) => void restore(f)}
            onPurge={purge}
            empty={<Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="The trash is empty" />}
          />
        </>
      )}
      <CreateFolderDialog
        open={creating}
        onCancel={() => setCreating(false)}
        onCreated={(f) => {
          setCreating(false);
          message.success(`Created the folder "${f.name}"`);
          live.reload();
        }}
      />
      {explore && (
        <FolderExplorer
          folder={explore.folder}
          open={explore.open}
          onClose={() => {
            setExplore({ ...explore, open: false });
            live.reload();
          }}
        />
      )}
      <EditFolderDialog
        folder={editing}
        onCancel={() => setEditing(null)}
        onSaved={(f) => {
          setEditing(null);
          message.success(`Saved "${f.name}"`);
          live.reload();
        }}
      />
      <ShareDialog folder={sharing} onClose={() => setSharing(null)} />
      <RestoreDialog
        target={restoring}
        onCancel={() => setRestoring(null)}
        onRestored={(f) => {
          setRestoring(null);
          message.success(`Restored as "${f.name}"`);
          reloadAll();
        }}
      />
    </Card>
  );
}
