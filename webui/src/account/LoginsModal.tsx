// "Logins": where the user is logged in to the web UI, each revocable. Revoking this
// browser's own login logs it out.
import { App, Button, Empty, List, Modal, Popconfirm, Space, Spin, Tag, Tooltip, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import type { ApiError } from "../api";
import { useAuth } from "../auth";
import { formatTime } from "../format";
import { browserName, loginsApi, type LoginInfo } from "./loginsApi";

interface Props {
  open: boolean;
  onClose: () => void;
}

export default function LoginsModal({ open, onClose }: Props) {
  const { message } = App.useApp();
  const { logout } = useAuth();
  const [logins, setLogins] = useState<LoginInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    setError(null);
    loginsApi.list().then(setLogins, (e: ApiError) => setError(e.message));
  }, []);

  useEffect(() => {
    if (open) load();
    else setLogins(null);
  }, [open, load]);

  const revoke = async (login: LoginInfo) => {
    try {
      await loginsApi.revoke(login.id);
    } catch (e) {
      message.error(`Could not revoke the login: ${(e as ApiError).message}`);
      return;
    }
    if (login.current) {
      onClose();
      await logout();
      return;
    }
    message.success(`Logged out ${browserName(login.user_agent)}`);
    load();
  };

  return (
    <Modal
      title="Logins"
      open={open}
      onCancel={onClose}
      footer={null}
      width={640}
      data-testid="logins-modal"
    >
      <Typography.Paragraph type="secondary">
        Browsers where you are logged in to Berth. Revoke any you do not recognise: that
        browser is logged out at once. API keys for the CLI are listed with{" "}
        <Typography.Text code>berth key list</Typography.Text>.
      </Typography.Paragraph>
      {error && <Typography.Text type="danger">{error}</Typography.Text>}
      {!error && logins === null && <Spin />}
      {logins !== null && (
        <List
          dataSource={logins}
          locale={{ emptyText: <Empty description="No browser logins" /> }}
          renderItem={(login) => (
            <List.Item
              data-testid="login-row"
              actions={[
                <Popconfirm
                  key="revoke"
                  title={login.current ? "Log out this browser?" : "Log out that browser?"}
                  okText="Revoke"
                  okButtonProps={{ danger: true }}
                  onConfirm={() => revoke(login)}
                >
                  <Button danger size="small">
                    Revoke
                  </Button>
                </Popconfirm>,
              ]}
            >
              <List.Item.Meta
                title={
                  <Space wrap>
                    <Tooltip title={login.user_agent || "no user agent"}>
                      <span>{browserName(login.user_agent)}</span>
                    </Tooltip>
                    {login.current && <Tag color="blue">This browser</Tag>}
                  </Space>
                }
                description={
                  <Space direction="vertical" size={0}>
                    <span>
                      From {login.client_ip || "unknown address"} · logged in{" "}
                      {formatTime(login.created_at)}
                    </span>
                    <span>
                      Last used {formatTime(login.last_used_at)} · expires{" "}
                      {formatTime(login.expires_at)}
                    </span>
                  </Space>
                }
              />
            </List.Item>
          )}
        />
      )}
    </Modal>
  );
}
