// Step 3: data & storage. A table of the folders I can mount (search, checkbox selection, a
// click on a name browses the folder, "+" creates one and selects it), then one row per chosen
// folder with its mount path and read-only switch (MountList), checked live by mounts.ts.
import { PlusOutlined } from "@ant-design/icons";
import { Alert, Button, Empty, Input, Space, Table, Tag, Tooltip, Typography } from "antd";
import type { ColumnsType } from "antd/es/table";
import { useMemo, useState } from "react";
import CreateFolderDialog from "../data/CreateFolderDialog";
import FolderExplorer from "../data/FolderExplorer";
import type { Folder } from "../data/types";
import { formatBytes } from "../format";
import type { StepProps } from "./fields";
import MountList from "./MountList";
import { defaultMountPath, forcedReadOnly, isAutoMounted, newRow } from "./mounts";
import type { FolderList } from "./useFolders";

type Props = StepProps & { folderList: FolderList };

export default function StepData({ form, setForm, errors, folderList }: Props) {
  const { folders, error: loadError } = folderList;
  const [search, setSearch] = useState("");
  const [creating, setCreating] = useState(false);
  const [explorer, setExplorer] = useState<{ folder: Folder; open: boolean } | null>(null);

  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (folders ?? []).filter((f) => !q || f.name.toLowerCase().includes(q));
  }, [folders, search]);
  const selected = form.mounts.map((m) => m.folder);

  const select = (keys: string[]) => {
    const kept = form.mounts.filter((m) => keys.includes(m.folder));
    const added = keys
      .filter((k) => !kept.some((m) => m.folder === k))
      .map((k) => (folders ?? []).find((f) => f.id === k))
      .filter((f): f is Folder => !!f && !isAutoMounted(f))
      .map(newRow);
    setForm({ mounts: [...kept, ...added] });
  };
  const created = (folder: Folder) => {
    setCreating(false);
    setSearch("");
    folderList.add(folder);
    folderList.reload();
    if (!isAutoMounted(folder) && !form.mounts.some((m) => m.folder === folder.id)) {
      setForm({ mounts: [...form.mounts, newRow(folder)] });
    }
  };

  const columns: ColumnsType<Folder> = [
    {
      title: "Name",
      key: "name",
      render: (_, f) => (
        <Space direction="vertical" size={0}>
          <Space size={4} wrap>
            <Typography.Link
              onClick={() => setExplorer({ folder: f, open: true })}
              title={`Browse ${f.name}`}
              data-testid="folder-name"
            >
              {f.name}
            </Typography.Link>
            {f.owner_kind === "project" && <Tag>project {f.owner_name}</Tag>}
            {f.shared_with_me && <Tag color="blue">shared by {f.owner_name}</Tag>}
          </Space>
          {isAutoMounted(f) && (
            <Typography.Text type="secondary" style={{ fontSize: 12 }}>
              auto-mounted at <Typography.Text code>{defaultMountPath(f.name)}</Typography.Text>
            </Typography.Text>
          )}
        </Space>
      ),
    },
    {
      title: "Permission",
      key: "permission",
      width: 120,
      render: (_, f) =>
        forcedReadOnly(f) ? <Tag color="orange">Read-only</Tag> : <Tag color="green">Read-write</Tag>,
    },
    {
      title: "Size",
      key: "size",
      width: 110,
      responsive: ["md"],
      render: (_, f) =>
        f.usage_bytes === null ? <Typography.Text type="secondary">-</Typography.Text> : formatBytes(f.usage_bytes),
    },
  ];

  return (
    <Space direction="vertical" size={12} style={{ width: "100%" }} data-testid="step-data">
      <Typography.Paragraph type="secondary" style={{ margin: 0 }}>
        A session works in <Typography.Text code>/home/work</Typography.Text>, a scratch directory
        that is <strong>deleted when the session ends</strong>. Files in the folders you mount
        survive the session and can be mounted again later.
      </Typography.Paragraph>
      {loadError && <Alert type="error" showIcon message={`Cannot load your folders: ${loadError}`} />}
      {form.assignOwner && form.ownerEmail.trim() && (
        <Alert
          type="info"
          showIcon
          message={`The session belongs to ${form.ownerEmail.trim()}: it can mount only folders that user may use (checked when you launch), and that user's dot-folders are mounted automatically. The folders below are yours.`}
        />
      )}
      <div style={{ display: "flex", gap: 8 }}>
        <Input.Search
          placeholder="Search folders"
          aria-label="Search folders"
          allowClear
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          style={{ flex: 1 }}
        />
        <Tooltip title="Create a folder (it is selected)">
          <Button icon={<PlusOutlined />} aria-label="Create folder" onClick={() => setCreating(true)} />
        </Tooltip>
      </div>
      <Table<Folder>
        size="small"
        rowKey="id"
        columns={columns}
        dataSource={shown}
        loading={folders === null && !loadError}
        pagination={{ pageSize: 10, hideOnSinglePage: true, size: "small" }}
        rowSelection={{
          selectedRowKeys: selected,
          preserveSelectedRowKeys: true,
          onChange: (keys) => select(keys.map(String)),
          getCheckboxProps: (f) => ({
            disabled: isAutoMounted(f),
            "aria-label": isAutoMounted(f) ? `${f.name} is mounted automatically` : `Mount ${f.name}`,
          }),
        }}
        locale={{
          emptyText:
            folders === null ? (
              <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={loadError ? "Folders could not be loaded" : "Loading…"} />
            ) : folders.length === 0 ? (
              <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="No folders yet — create one with +" />
            ) : (
              <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={`No folder matches "${search.trim()}"`} />
            ),
        }}
        data-testid="folder-table"
      />
      <MountList form={form} setForm={setForm} errors={errors} folders={folders} />
      <CreateFolderDialog open={creating} onCreated={created} onCancel={() => setCreating(false)} />
      {explorer && (
        <FolderExplorer
          folder={explorer.folder}
          open={explorer.open}
          onClose={() => {
            setExplorer({ ...explorer, open: false });
            folderList.reload();
          }}
        />
      )}
    </Space>
  );
}
