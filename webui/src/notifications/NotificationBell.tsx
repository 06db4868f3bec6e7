import { BellOutlined } from "@ant-design/icons";
import { Badge, Button, Empty, List, Popover, Space, Typography } from "antd";
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { formatTime } from "../format";
import StatusTag from "../sessions/StatusTag";
import { useNotifications } from "./context";

/** The header bell: unread count and the list of session notifications. */
export default function NotificationBell() {
  const { entries, markAllRead, clear } = useNotifications();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const unread = entries.filter((e) => !e.read).length;

  const content = (
    <div style={{ width: 360 }} data-testid="notification-list">
      {entries.length === 0 ? (
        <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="No notifications" />
      ) : (
        <List
          size="small"
          dataSource={entries}
          style={{ maxHeight: 360, overflow: "auto" }}
          renderItem={(e) => (
            <List.Item
              style={{ cursor: "pointer" }}
              onClick={() => {
                setOpen(false);
                navigate(`/sessions?session=${encodeURIComponent(e.sessionId)}`);
              }}
            >
              <List.Item.Meta
                title={
                  <Space>
                    {!e.read && <Badge status="processing" />}
                    {e.name}
                  </Space>
                }
                description={<Typography.Text type="secondary">Launched {formatTime(e.at)}</Typography.Text>}
              />
              <StatusTag status={e.status} />
            </List.Item>
          )}
        />
      )}
    </div>
  );

  return (
    <Popover
      trigger="click"
      placement="bottomRight"
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (!next) markAllRead();
      }}
      title={
        <Space style={{ width: "100%", justifyContent: "space-between" }}>
          Notifications
          {entries.length > 0 && (
            <Button type="link" size="small" onClick={clear}>
              Clear all
            </Button>
          )}
        </Space>
      }
      content={content}
    >
      <Badge count={unread} size="small">
        <Button shape="circle" icon={<BellOutlined />} aria-label="Notifications" />
      </Badge>
    </Popover>
  );
}
