// Asks for a path inside a folder: a new directory's, or where an entry moves (rename/move).
import { Alert, Form, Input, Modal } from "antd";
import { useEffect, useState } from "react";
import { ApiError } from "../api";
import { joinPath, relativePathError } from "./rules";

interface Props {
  open: boolean;
  title: string;
  label: string;
  okText: string;
  initial: string;
  help?: string;
  /** Does the work; a thrown ApiError naming `path`/`dst`/`src` shows at the field. */
  onSubmit: (path: string) => Promise<void>;
  onCancel: () => void;
}

export default function PathDialog(props: Props) {
  const [form] = Form.useForm<{ path: string }>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (props.open) {
      form.setFieldsValue({ path: props.initial });
      setError(null);
    }
  }, [props.open, props.initial, form]);

  const submit = async ({ path }: { path: string }) => {
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit(joinPath(path.trim()));
    } catch (e) {
      // The API names the path "path" (mkdir) or "dst"/"src" (move): all are this field; a 409
      // (something is there already) or 400 (e.g. a symbolic link on the way) is about it too.
      const err = e instanceof ApiError ? e : null;
      const named = err?.fields.find((f) => ["path", "dst", "src"].includes(f.field));
      if (named) form.setFields([{ name: "path", errors: [named.message] }]);
      else if (err && (err.status === 409 || err.status === 400)) {
        form.setFields([{ name: "path", errors: [err.message] }]);
      } else setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={props.title}
      open={props.open}
      okText={props.okText}
      onOk={() => form.submit()}
      confirmLoading={busy}
      onCancel={props.onCancel}
      destroyOnHidden
    >
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" onFinish={submit} preserve={false}>
        <Form.Item
          name="path"
          label={props.label}
          extra={props.help}
          validateTrigger="onChange"
          rules={[
            {
              validator: async (_, value: string | undefined) => {
                const message = relativePathError((value ?? "").trim());
                if (message) throw new Error(`The path ${message}`);
              },
            },
          ]}
        >
          <Input autoFocus aria-label={props.label} />
        </Form.Item>
      </Form>
    </Modal>
  );
}
