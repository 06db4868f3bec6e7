// "Edit" a folder (owner only): its name, usage mode and mount permission.
import { Alert, Form, Input, Modal, Radio, Select } from "antd";
import { useEffect, useState } from "react";
import { foldersApi } from "./foldersApi";
import { applyFieldErrors } from "./formErrors";
import { autoMountPath, USAGE_MODES } from "./labels";
import { FOLDER_NAME_MAX, folderNameError, isAutoMounted } from "./rules";
import type { Folder, FolderUpdate, Permission, UsageMode } from "./types";

interface Props {
  folder: Folder | null;
  onSaved: (f: Folder) => void;
  onCancel: () => void;
}

interface Values {
  name: string;
  usage_mode: UsageMode;
  permission: Permission;
}

export default function EditFolderDialog({ folder, onSaved, onCancel }: Props) {
  const [form] = Form.useForm<Values>();
  const name = Form.useWatch("name", form) ?? "";
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!folder) return;
    form.setFieldsValue({ name: folder.name, usage_mode: folder.usage_mode, permission: folder.permission });
    setError(null);
  }, [folder, form]);

  const submit = async (values: Values) => {
    if (!folder) return;
    const patch: FolderUpdate = {};
    if (values.name !== folder.name) patch.name = values.name;
    if (values.usage_mode !== folder.usage_mode) patch.usage_mode = values.usage_mode;
    if (values.permission !== folder.permission) patch.permission = values.permission;
    if (Object.keys(patch).length === 0) {
      onCancel();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSaved(await foldersApi.update(folder.id, patch));
    } catch (e) {
      setError(applyFieldErrors(form, e, ["name", "usage_mode", "permission"]));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={folder ? `Edit folder "${folder.name}"` : ""}
      open={folder !== null}
      okText="Save"
      onOk={() => form.submit()}
      confirmLoading={busy}
      onCancel={onCancel}
      destroyOnHidden
    >
      {error && <Alert type="error" showIcon message="Could not save the folder" description={error} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item
          name="name"
          label="Name"
          validateTrigger="onChange"
          extra={
            isAutoMounted(name) && !folderNameError(name)
              ? `Mounted into every session of the owner at ${autoMountPath(name)}.`
              : `Sessions mount it at ${autoMountPath(name || "NAME")} unless they name another path.`
          }
          rules={[
            {
              validator: async (_, value: string | undefined) => {
                const message = folderNameError(value ?? "");
                if (message) throw new Error(`The name ${message}`);
              },
            },
          ]}
        >
          <Input autoFocus maxLength={FOLDER_NAME_MAX + 16} aria-label="Name" />
        </Form.Item>
        <Form.Item name="usage_mode" label="Usage">
          <Select options={USAGE_MODES.map((m) => ({ value: m.value, label: `${m.label} — ${m.help}` }))} aria-label="Usage" />
        </Form.Item>
        <Form.Item name="permission" label="Mounted in sessions as">
          <Radio.Group optionType="button">
            <Radio value="rw">Read-write</Radio>
            <Radio value="ro">Read-only</Radio>
          </Radio.Group>
        </Form.Item>
      </Form>
    </Modal>
  );
}
