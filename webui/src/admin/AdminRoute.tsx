// Admin pages are for admins only: anyone else sees a refusal (the API refuses them too).
import { Button, Result } from "antd";
import type { ReactNode } from "react";
import { useNavigate } from "react-router-dom";
import { isAdmin, useUser } from "../auth";

export const ADMIN_PAGES = [
  { path: "/admin/projects", label: "Projects" },
  { path: "/admin/resource-groups", label: "Resource groups" },
  { path: "/admin/presets", label: "Presets" },
  { path: "/admin/policies", label: "Resource policies" },
  { path: "/admin/agents", label: "Agents" },
] as const;

export default function AdminRoute({ children }: { children: ReactNode }) {
  const user = useUser();
  const navigate = useNavigate();
  if (!isAdmin(user)) {
    return (
      <Result
        status="403"
        title="Admins only"
        subTitle="This page is for administrators."
        extra={
          <Button type="primary" onClick={() => navigate("/sessions")}>
            Go to sessions
          </Button>
        }
      />
    );
  }
  return <>{children}</>;
}
