import {
  DatabaseOutlined,
  DesktopOutlined,
  LaptopOutlined,
  LogoutOutlined,
  SettingOutlined,
  UserOutlined,
} from "@ant-design/icons";
import { Button, Dropdown, Grid, Layout, Menu, Space, Tag, Typography } from "antd";
import { useState } from "react";
import { Outlet, useLocation, useNavigate } from "react-router-dom";
import LoginsModal from "../account/LoginsModal";
import { ADMIN_PAGES } from "../admin/AdminRoute";
import { isAdmin, useAuth, useUser } from "../auth";
import NotificationBell from "../notifications/NotificationBell";
import Logo from "./Logo";

const { Header, Content } = Layout;

export default function AppLayout() {
  const user = useUser();
  const { logout } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const selected = location.pathname.startsWith("/launch")
    ? "/launch"
    : location.pathname.startsWith("/data")
      ? "/data"
      : location.pathname.startsWith("/admin")
        ? location.pathname
        : "/sessions";
  // Phone width: the user button shows only its icon (the email is in its menu) and the
  // paddings shrink, so the header and the page fit 390 px without sideways scrolling.
  const narrow = !Grid.useBreakpoint().md;
  const [loginsOpen, setLoginsOpen] = useState(false);

  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Header
        style={{
          display: "flex",
          alignItems: "center",
          gap: narrow ? 8 : 24,
          background: "#fff",
          borderBottom: "1px solid #f0f0f0",
          padding: narrow ? "0 12px" : "0 24px",
          position: "sticky",
          top: 0,
          zIndex: 10,
        }}
      >
        <Space
          style={{ cursor: "pointer" }}
          onClick={() => navigate("/sessions")}
          aria-label="Berth home"
        >
          <Logo />
          {/* On a phone the logo alone leaves the nav room for its items (Sessions, Data). */}
          {!narrow && (
            <Typography.Text strong style={{ fontSize: 18 }}>
              Berth
            </Typography.Text>
          )}
        </Space>
        <Menu
          mode="horizontal"
          selectedKeys={[selected]}
          style={{ flex: 1, borderBottom: "none", minWidth: 0 }}
          onClick={(e) => navigate(e.key)}
          items={[
            { key: "/sessions", icon: <DesktopOutlined />, label: "Sessions" },
            { key: "/data", icon: <DatabaseOutlined />, label: "Data" },
            ...(isAdmin(user)
              ? [
                  {
                    key: "admin",
                    icon: <SettingOutlined />,
                    label: <span data-testid="admin-menu">Admin</span>,
                    children: ADMIN_PAGES.map((p) => ({ key: p.path, label: p.label })),
                  },
                ]
              : []),
          ]}
        />
        <Space size={narrow ? "small" : "middle"}>
          <NotificationBell />
          <Dropdown
            trigger={["click"]}
            menu={{
              items: [
                {
                  key: "who",
                  disabled: true,
                  label: (
                    <Space direction="vertical" size={0}>
                      <Typography.Text>{user.full_name || user.email}</Typography.Text>
                      <Typography.Text type="secondary">{user.email}</Typography.Text>
                    </Space>
                  ),
                },
                { type: "divider" },
                { key: "logins", icon: <LaptopOutlined />, label: "Logins" },
                { key: "logout", icon: <LogoutOutlined />, label: "Log out", danger: true },
              ],
              onClick: (e) => {
                if (e.key === "logins") setLoginsOpen(true);
                if (e.key === "logout") void logout().then(() => navigate("/login"));
              },
            }}
          >
            <Button icon={<UserOutlined />} data-testid="user-menu" aria-label={`Account ${user.email}`}>
              {narrow ? <span className="visually-hidden">{user.email}</span> : user.email}
              {!narrow && user.role !== "user" && (
                <Tag color="purple" style={{ marginInlineStart: 8, marginInlineEnd: 0 }}>
                  {user.role}
                </Tag>
              )}
            </Button>
          </Dropdown>
        </Space>
      </Header>
      <Content style={{ padding: narrow ? 8 : 24 }}>
        <Outlet />
      </Content>
      <LoginsModal open={loginsOpen} onClose={() => setLoginsOpen(false)} />
    </Layout>
  );
}
