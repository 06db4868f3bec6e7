// "Share" (owner only): who else may use the folder, read-only or read-write; add by email,
// change, remove.
import { ShareAltOutlined } from "@ant-design/icons";
import { Alert, App, Button, Empty, Form, Input, List, Modal, Popconfirm, Select, Space, Spin, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { ApiError } from "../api";
import { formatTime } from "../format";
import { foldersApi } from "./foldersApi";
import { applyFieldErrors } from "./formErrors";
import { PERMISSION_LABEL } from "./labels";
import type { Folder, Permission, Share } from "./types";

interface Props {
  folder: Folder | null;
  onClose: () => void;
}

const PERMISSIONS = (["ro", "rw"] as Permission[]).map((p) => ({ value: p, label: PERMISSION_LABEL[p] }));

export default function ShareDialog({ folder, onClose }: Props) {
  const { message } = App.useApp();
  const [form] = Form.useForm<{ email: string; permission: Permission }>();
  const [shares, setShares] = useState<Share[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);

  const load = useCallback(() => {
    if (!folder) return;
    foldersApi.shares(folder.id).then(
      (list) => {
        setShares(list);
        setError(null);
      },
      (e: Error) => setError(`Could not load the shares: ${e.message}`),
    );
  }, [folder]);

  useEffect(() => {
    setShares(null);
    setError(null);
    load();
  }, [load]);

  if (!folder) return null;

  const add = async ({ email, permission }: { email: string; permission: Permission }) => {
    setAdding(true);
    try {
      const share = await foldersApi.share(folder.id, email.trim(), permission);
      message.success(`Shared ${folder.name} with ${share.email} (${PERMISSION_LABEL[share.permission].toLowerCase()})`);
      form.setFieldsValue({ email: "" });
      load();
    } catch (e) {
      // No such user is a 404 about the email.
      if (e instanceof ApiError && e.status === 404 && e.fields.length === 0) {
        form.setFields([{ name: "email", errors: [e.message] }]);
      } else {
        const rest = applyFieldErrors(form, e, ["email", "permission"]);
        if (rest) message.error(`Could not share: ${rest}`);
      }
    } finally {
      setAdding(false);
    }
  };

  const change = async (share: Share, permission: Permission) => {
    try {
      await foldersApi.share(folder.id, share.email, permission);
      message.success(`${share.email} now has ${PERMISSION_LABEL[permission].toLowerCase()} access`);
      load();
    } catch (e) {
      message.error(`Could not change ${share.email}'s access: ${(e as Error).message}`);
    }
  };

  const remove = async (share: Share) => {
    try {
      await foldersApi.unshare(folder.id, share.user_id);
      message.success(`${share.email} no longer has access to ${folder.name}`);
      load();
    } catch (e) {
      message.error(`Could not remove ${share.email}: ${(e as Error).message}`);
    }
  };

  return (
    <Modal title={`Share "${folder.name}"`} open onCancel={onClose} footer={null} width={600} data-testid="share-dialog">
      <Typography.Paragraph type="secondary">
        People you share with see the folder on their Data page and can mount it in their sessions.
        Read-only lets them read its files; read-write lets them change them, too.
      </Typography.Paragraph>
      <Form form={form} layout="inline" onFinish={add} initialValues={{ email: "", permission: "ro" }} style={{ rowGap: 8, marginBottom: 16 }}>
        <Form.Item
          name="email"
          style={{ flex: "1 1 200px", marginInlineEnd: 8 }}
          rules={[{ required: true, type: "email", message: "Enter the email of a Berth user" }]}
        >
          <Input placeholder="Email of a Berth user" aria-label="Email" />
        </Form.Item>
        <Form.Item name="permission" style={{ marginInlineEnd: 8 }}>
          <Select options={PERMISSIONS} style={{ width: 130 }} aria-label="Permission" />
        </Form.Item>
        <Form.Item style={{ marginInlineEnd: 0 }}>
          {/* The icon also keeps the busy spinner honest: antd swaps a button's icon for the
              spinner and back directly, but slides the spinner of an icon-less button out and
              removes it only on the transition's end event. An answer that came while it was
              still sliding in (a busy browser) missed that event: an invisible spinner stayed,
              and the button read "loading Share" for good. Decorative: hidden from the name. */}
          <Button type="primary" htmlType="submit" icon={<ShareAltOutlined aria-hidden />} loading={adding}>
            Share
          </Button>
        </Form.Item>
      </Form>
      {error && <Alert type="error" showIcon message={error} action={<Button size="small" onClick={load}>Retry</Button>} />}
      {!error && shares === null && <Spin />}
      {shares !== null && (
        <List
          size="small"
          header={<Typography.Text strong>Shared with</Typography.Text>}
          dataSource={shares}
          locale={{ emptyText: <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="Not shared with anyone yet" /> }}
          renderItem={(share) => (
            <List.Item
              data-testid="share-row"
              style={{ flexWrap: "wrap", gap: 8 }}
              actions={[
                <Select
                  key="perm"
                  size="small"
                  value={share.permission}
                  options={PERMISSIONS}
                  style={{ width: 120 }}
                  onChange={(p: Permission) => void change(share, p)}
                  aria-label={`Permission of ${share.email}`}
                />,
                <Popconfirm
                  key="remove"
                  title={`Stop sharing with ${share.email}?`}
                  okText="Remove"
                  okButtonProps={{ danger: true }}
                  onConfirm={() => remove(share)}
                >
                  <Button size="small" danger>
                    Remove
                  </Button>
                </Popconfirm>,
              ]}
            >
              <Space direction="vertical" size={0} style={{ minWidth: 0 }}>
                <Typography.Text ellipsis={{ tooltip: share.email }}>{share.email}</Typography.Text>
                <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                  since {formatTime(share.created_at)}
                </Typography.Text>
              </Space>
            </List.Item>
          )}
        />
      )}
    </Modal>
  );
}
