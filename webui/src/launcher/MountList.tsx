// The chosen folders of step 3: per folder its mount path (placeholder /home/work/<name>, the
// resolved path or the rule it breaks below) and a read-only switch (forced on, and disabled,
// when the folder is read-only for me); then the dot-folders mounted automatically.
import { CloseOutlined } from "@ant-design/icons";
import { Alert, Button, Form, Grid, Input, Switch, Tooltip, Typography } from "antd";
import type { Folder } from "../data/types";
import type { LaunchForm, Messages } from "./form";
import {
  autoMounts,
  defaultMountPath,
  forcedReadOnly,
  isAutoMounted,
  MOUNT_PATH_MAX,
  mountPathError,
  resolveMountPath,
  type MountRow,
} from "./mounts";

interface Props {
  form: LaunchForm;
  setForm: (patch: Partial<LaunchForm>) => void;
  errors: Messages;
  folders: Folder[] | null;
}

export default function MountList({ form, setForm, errors, folders }: Props) {
  const narrow = !Grid.useBreakpoint().md;
  const byId = new Map((folders ?? []).map((f) => [f.id, f]));
  const auto = autoMounts(form.mounts, folders);
  const chosen = new Set(form.mounts.map((m) => m.folder));
  const displaced = (folders ?? []).filter((f) => isAutoMounted(f) && !chosen.has(f.id) && !auto.includes(f));
  const update = (i: number, patch: Partial<MountRow>) =>
    setForm({ mounts: form.mounts.map((m, j) => (j === i ? { ...m, ...patch } : m)) });
  const remove = (i: number) => setForm({ mounts: form.mounts.filter((_, j) => j !== i) });

  return (
    <div data-testid="mount-list">
      <Typography.Title level={5} style={{ marginTop: 0 }}>
        Mounted folders ({form.mounts.length + auto.length})
      </Typography.Title>
      {errors.mounts && <Alert type="error" showIcon message={errors.mounts} style={{ marginBottom: 8 }} />}
      {form.mounts.length === 0 && auto.length === 0 && (
        <Typography.Paragraph type="secondary">
          None selected: tick the folders above to mount them.
        </Typography.Paragraph>
      )}
      {form.mounts.map((m, i) => {
        const folder = byId.get(m.folder);
        const name = folder?.name ?? m.folder;
        const ro = folder ? forcedReadOnly(folder) : false;
        const error = errors[`mounts.${i}.folder`] ?? errors[`mounts.${i}.path`] ?? errors[`mounts.${i}.mode`];
        const resolved = folder || m.path.trim() ? resolveMountPath(m.path, name) : null;
        const hint = !error && resolved && !mountPathError(m.path) ? `mounted at ${resolved}` : undefined;
        const pathField = (
          <Form.Item
            style={{ flex: narrow ? "1 1 100%" : "1 1 220px", minWidth: 0, marginBottom: 8 }}
            validateStatus={error ? "error" : undefined}
            help={error ?? hint}
          >
            <Input
              aria-label={`Mount path of ${name}`}
              placeholder={defaultMountPath(name)}
              value={m.path}
              maxLength={MOUNT_PATH_MAX + 45}
              onChange={(e) => update(i, { path: e.target.value })}
              allowClear
            />
          </Form.Item>
        );
        return (
          <div
            key={m.folder}
            data-testid="mount-row"
            data-folder={name}
            style={{ display: "flex", flexWrap: "wrap", alignItems: "flex-start", gap: "4px 12px", marginBottom: 4 }}
          >
            <Typography.Text
              strong
              ellipsis
              style={{ flex: narrow ? "1 1 0" : "0 1 160px", minWidth: 80, paddingTop: 5 }}
              title={name}
            >
              {name}
            </Typography.Text>
            {!narrow && pathField}
            <Tooltip title={ro ? "This folder is read-only for you" : undefined}>
              <span style={{ display: "inline-flex", alignItems: "center", gap: 6, paddingTop: 5 }}>
                <Switch
                  size="small"
                  aria-label={`Read-only ${name}`}
                  checked={m.ro || ro}
                  disabled={ro}
                  onChange={(checked) => update(i, { ro: checked })}
                />
                <Typography.Text>Read-only</Typography.Text>
              </span>
            </Tooltip>
            <Button
              type="text"
              size="small"
              icon={<CloseOutlined />}
              aria-label={`Do not mount ${name}`}
              title={`Do not mount ${name}`}
              onClick={() => remove(i)}
              style={{ marginTop: 2 }}
            />
            {narrow && pathField}
          </div>
        );
      })}
      {auto.map((f) => (
        <div key={f.id} data-testid="auto-mount-row" style={{ marginBottom: 4 }}>
          <Typography.Text strong>{f.name}</Typography.Text>{" "}
          <Typography.Text type="secondary">
            auto-mounted at <Typography.Text code>{defaultMountPath(f.name)}</Typography.Text>
          </Typography.Text>
        </div>
      ))}
      {displaced.map((f) => (
        <div key={f.id} data-testid="auto-mount-row" style={{ marginBottom: 4 }}>
          <Typography.Text strong>{f.name}</Typography.Text>{" "}
          <Typography.Text type="warning">
            not mounted: a chosen mount path is at or around{" "}
            <Typography.Text code>{defaultMountPath(f.name)}</Typography.Text>
          </Typography.Text>
        </div>
      ))}
    </div>
  );
}
