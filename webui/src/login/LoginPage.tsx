import { LockOutlined, MailOutlined } from "@ant-design/icons";
import { Alert, Button, Card, Form, Input, Typography } from "antd";
import { useState } from "react";
import { Navigate, useSearchParams } from "react-router-dom";
import { ApiError } from "../api";
import { useAuth } from "../auth";
import Logo from "../layout/Logo";

interface LoginForm {
  email: string;
  password: string;
}

/** Only same-app paths are followed after login (never another site). */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/sessions";
}

export default function LoginPage() {
  const { user, login } = useAuth();
  const [params] = useSearchParams();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (user) return <Navigate to={safeNext(params.get("next"))} replace />;

  const submit = async (values: LoginForm) => {
    setBusy(true);
    setError(null);
    try {
      await login(values.email.trim(), values.password);
    } catch (e) {
      const err = e as ApiError;
      setError(
        err.status === 401
          ? "Wrong email or password. Check both and try again."
          : err.message || "Login failed",
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <div
      style={{
        minHeight: "100vh",
        display: "grid",
        placeItems: "center",
        background: "linear-gradient(160deg, #f0f5ff 0%, #ffffff 60%)",
      }}
    >
      <Card style={{ width: 380 }} data-testid="login-card">
        <div style={{ textAlign: "center", marginBottom: 24 }}>
          <Logo size={40} />
          <Typography.Title level={3} style={{ margin: "8px 0 0" }}>
            Sign in to Berth
          </Typography.Title>
          <Typography.Text type="secondary">Compute sessions on your own servers</Typography.Text>
        </div>
        {error && (
          <Alert
            type="error"
            showIcon
            message={error}
            style={{ marginBottom: 16 }}
            data-testid="login-error"
            role="alert"
          />
        )}
        <Form<LoginForm> layout="vertical" onFinish={submit} requiredMark={false}>
          <Form.Item
            label="Email"
            name="email"
            rules={[{ required: true, message: "Enter your email" }]}
          >
            <Input prefix={<MailOutlined />} autoComplete="username" autoFocus />
          </Form.Item>
          <Form.Item
            label="Password"
            name="password"
            rules={[{ required: true, message: "Enter your password" }]}
          >
            <Input.Password prefix={<LockOutlined />} autoComplete="current-password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy}>
            Log in
          </Button>
        </Form>
      </Card>
    </div>
  );
}
