// "New folder": name (checked as typed), usage mode, mount permission, owner and, for a
// superadmin, the storage host. The server's refusals land on the fields they name.
import { Alert, Form, Input, Modal, Radio, Select, Space, Typography } from "antd";
import { useEffect, useState } from "react";
import { useUser } from "../auth";
import { formatBytes } from "../format";
import { foldersApi } from "./foldersApi";
import { applyFieldErrors } from "./formErrors";
import { autoMountPath, USAGE_MODES } from "./labels";
import { FOLDER_NAME_MAX, folderNameError, isAutoMounted } from "./rules";
import type { Folder, FolderCreate, Permission, StorageHost, UsageMode } from "./types";

interface Props {
  open: boolean;
  onCreated: (f: Folder) => void;
  onCancel: () => void;
}

interface Values {
  name: string;
  usage_mode: UsageMode;
  permission: Permission;
  host?: string;
}

const FIELDS = ["name", "usage_mode", "permission", "host", "project"];
const DEFAULTS: Values = { name: "", usage_mode: "general", permission: "rw" };

export default function CreateFolderDialog({ open, onCreated, onCancel }: Props) {
  const user = useUser();
  const superadmin = user.role === "superadmin";
  const [form] = Form.useForm<Values>();
  const name = Form.useWatch("name", form) ?? "";
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [hosts, setHosts] = useState<StorageHost[] | null>(null);
  const [hostsError, setHostsError] = useState<string | null>(null);

  useEffect(() => {
    if (!open) return;
    form.resetFields();
    setError(null);
    if (!superadmin) return;
    foldersApi.hosts().then(
      (list) => {
        setHosts(list);
        setHostsError(null);
      },
      (e: Error) => setHostsError(e.message),
    );
  }, [open, superadmin, form]);

  const submit = async (values: Values) => {
    setBusy(true);
    setError(null);
    const body: FolderCreate = {
      name: values.name,
      usage_mode: values.usage_mode,
      permission: values.permission,
    };
    if (superadmin && values.host) body.host = values.host;
    try {
      const folder = await foldersApi.create(body);
      onCreated(folder);
    } catch (e) {
      setError(applyFieldErrors(form, e, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title="New folder"
      open={open}
      okText="Create"
      onOk={() => form.submit()}
      confirmLoading={busy}
      onCancel={onCancel}
      destroyOnHidden
      data-testid="create-folder-dialog"
    >
      {error && <Alert type="error" showIcon message="Could not create the folder" description={error} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" initialValues={DEFAULTS} onFinish={submit} requiredMark={false}>
        <Form.Item
          name="name"
          label="Name"
          validateTrigger="onChange"
          rules={[
            {
              validator: async (_, value: string | undefined) => {
                const message = folderNameError(value ?? "");
                if (message) throw new Error(`The name ${message}`);
              },
            },
          ]}
          extra={
            isAutoMounted(name) && !folderNameError(name)
              ? `Starts with ".": mounted into every session of yours at ${autoMountPath(name)}.`
              : `Letters, digits, ".", "_" and "-", up to ${FOLDER_NAME_MAX} characters. A name starting with "." is mounted into all your sessions.`
          }
        >
          <Input autoFocus placeholder="e.g. datasets" maxLength={FOLDER_NAME_MAX + 16} aria-label="Name" />
        </Form.Item>
        <Form.Item name="usage_mode" label="Usage">
          <Radio.Group>
            <Space direction="vertical" size={4}>
              {USAGE_MODES.map((m) => (
                <Radio key={m.value} value={m.value}>
                  {m.label} <Typography.Text type="secondary">— {m.help}</Typography.Text>
                </Radio>
              ))}
            </Space>
          </Radio.Group>
        </Form.Item>
        <Form.Item
          name="permission"
          label="Mounted in sessions as"
          extra="Read-only keeps sessions (and people you share it with) from changing its files through the mount."
        >
          <Radio.Group optionType="button">
            <Radio value="rw">Read-write</Radio>
            <Radio value="ro">Read-only</Radio>
          </Radio.Group>
        </Form.Item>
        <Form.Item label="Owner" extra="Your own folder: only you (and people you share it with) can use it.">
          <Select
            disabled
            options={[{ value: "", label: `Me (${user.email})` }]}
            value=""
            aria-label="Owner"
          />
        </Form.Item>
        {superadmin && (
          <Form.Item
            name="host"
            label="Storage host"
            extra="Leave empty for the default host."
            validateStatus={hostsError ? "error" : undefined}
            help={hostsError ? `Could not load the storage hosts: ${hostsError}` : undefined}
          >
            <Select
              allowClear
              placeholder="The default host"
              loading={hosts === null && !hostsError}
              aria-label="Storage host"
              options={(hosts ?? []).map((h) => ({
                value: h.name,
                label: `${h.name} — ${formatBytes(h.free_bytes)} free of ${formatBytes(h.total_bytes)}`,
              }))}
            />
          </Form.Item>
        )}
      </Form>
    </Modal>
  );
}
