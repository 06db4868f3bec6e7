// Asks a new name for a folder coming back from the trash when its old name is taken again.
import { Alert, Form, Input, Modal } from "antd";
import { useEffect, useState } from "react";
import { foldersApi } from "./foldersApi";
import { applyFieldErrors } from "./formErrors";
import { FOLDER_NAME_MAX, folderNameError } from "./rules";
import type { Folder } from "./types";

interface Props {
  /** The trashed folder and why its name cannot come back. */
  target: { folder: Folder; reason: string } | null;
  onRestored: (f: Folder) => void;
  onCancel: () => void;
}

export default function RestoreDialog({ target, onRestored, onCancel }: Props) {
  const [form] = Form.useForm<{ name: string }>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!target) return;
    form.setFieldsValue({ name: `${target.folder.name}-restored`.slice(0, FOLDER_NAME_MAX) });
    setError(null);
  }, [target, form]);

  const submit = async ({ name }: { name: string }) => {
    if (!target) return;
    setBusy(true);
    setError(null);
    try {
      onRestored(await foldersApi.restore(target.folder.id, name));
    } catch (e) {
      const rest = applyFieldErrors(form, e, ["name"]);
      if (rest && (e as { status?: number }).status === 409) form.setFields([{ name: "name", errors: [rest] }]);
      else setError(rest);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={target ? `Restore "${target.folder.name}" under a new name` : ""}
      open={target !== null}
      okText="Restore"
      onOk={() => form.submit()}
      confirmLoading={busy}
      onCancel={onCancel}
      destroyOnHidden
    >
      {target && <Alert type="warning" showIcon message={target.reason} style={{ marginBottom: 16 }} />}
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item
          name="name"
          label="New name"
          validateTrigger="onChange"
          rules={[
            {
              validator: async (_, value: string | undefined) => {
                const message = folderNameError(value ?? "");
                if (message) throw new Error(`The name ${message}`);
              },
            },
          ]}
        >
          <Input autoFocus aria-label="New name" />
        </Form.Item>
      </Form>
    </Modal>
  );
}
