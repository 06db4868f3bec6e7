import { App as AntApp, ConfigProvider, Result, Button, Spin } from "antd";
import { lazy, Suspense, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import AdminRoute from "./admin/AdminRoute";
import { AuthProvider, useAuth } from "./auth";
import DataPage from "./data/DataPage";
import AppLayout from "./layout/AppLayout";
import Launcher from "./launcher/Launcher";
import LoginPage from "./login/LoginPage";
import { NotificationsProvider } from "./notifications/NotificationsProvider";
import SessionsPage from "./sessions/SessionsPage";

/** Notices shown at once (bottom left); the header's bell keeps every session's. */
const MAX_NOTICES = 3;

// xterm.js is loaded only by the terminal window; the admin pages only by admins.
const TerminalPage = lazy(() => import("./apps/TerminalPage"));
const ProjectsPage = lazy(() => import("./admin/ProjectsPage"));
const GroupsPage = lazy(() => import("./admin/GroupsPage"));
const PresetsPage = lazy(() => import("./admin/PresetsPage"));
const PoliciesPage = lazy(() => import("./admin/PoliciesPage"));
const AgentsPage = lazy(() => import("./admin/AgentsPage"));

function Admin({ children }: { children: ReactNode }) {
  return (
    <AdminRoute>
      <Suspense fallback={<Spin />}>{children}</Suspense>
    </AdminRoute>
  );
}

function RequireAuth({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const location = useLocation();
  if (user === undefined) {
    return (
      <div style={{ display: "grid", placeItems: "center", height: "100vh" }}>
        <Spin size="large" tip="Loading" fullscreen />
      </div>
    );
  }
  if (user === null) {
    const next = location.pathname + location.search;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}

function NotFound() {
  const navigate = useNavigate();
  return (
    <Result
      status="404"
      title="Page not found"
      subTitle="There is nothing at this address."
      extra={
        <Button type="primary" onClick={() => navigate("/sessions")}>
          Go to sessions
        </Button>
      }
    />
  );
}

export default function App() {
  return (
    <ConfigProvider theme={{ token: { colorPrimary: "#1677ff" }, components: { Notification: { width: 360 } } }}>
      {/* Notices never collapse into a stack (that hid their buttons); at most MAX_NOTICES show,
          the oldest leaving first, so they keep to a corner: the bottom left, as the main
          actions (Launch, the drawer, paging) are on the right. */}
      <AntApp notification={{ placement: "bottomLeft", stack: false, maxCount: MAX_NOTICES }}>
        <AuthProvider>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route
              path="/terminal/:ref"
              element={
                <RequireAuth>
                  <Suspense fallback={<Spin size="large" fullscreen />}>
                    <TerminalPage />
                  </Suspense>
                </RequireAuth>
              }
            />
            <Route
              element={
                <RequireAuth>
                  <NotificationsProvider>
                    <AppLayout />
                  </NotificationsProvider>
                </RequireAuth>
              }
            >
              <Route index element={<Navigate to="/sessions" replace />} />
              <Route path="/sessions" element={<SessionsPage />} />
              <Route path="/launch/*" element={<Launcher />} />
              <Route path="/data" element={<DataPage />} />
              <Route path="/admin" element={<Navigate to="/admin/projects" replace />} />
              <Route path="/admin/projects" element={<Admin><ProjectsPage /></Admin>} />
              <Route path="/admin/resource-groups" element={<Admin><GroupsPage /></Admin>} />
              <Route path="/admin/presets" element={<Admin><PresetsPage /></Admin>} />
              <Route path="/admin/policies" element={<Admin><PoliciesPage /></Admin>} />
              <Route path="/admin/agents" element={<Admin><AgentsPage /></Admin>} />
              <Route path="*" element={<NotFound />} />
            </Route>
          </Routes>
        </AuthProvider>
      </AntApp>
    </ConfigProvider>
  );
}
