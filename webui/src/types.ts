// Shapes of the manager's API (see /api/openapi.json: SessionOut, KernelOut, UserOut, ...).

export type SessionStatus =
  | "PENDING"
  | "SCHEDULED"
  | "PREPARING"
  | "PULLING"
  | "CREATING"
  | "RUNNING"
  | "TERMINATING"
  | "TERMINATED"
  | "CANCELLED"
  | "ERROR";

export type SessionType = "interactive" | "batch";

export const ENDED: ReadonlySet<SessionStatus> = new Set(["TERMINATED", "CANCELLED", "ERROR"]);

export interface User {
  id: string;
  email: string;
  full_name: string;
  role: "superadmin" | "admin" | "user";
  is_active: boolean;
  created_at: string;
}

export interface AppPort {
  name: string;
  protocol: string;
  port: number;
  host_port: number | null;
}

export interface Kernel {
  id: string;
  role: string;
  cluster_hostname: string;
  agent_id: string | null;
  container_id: string | null;
  status: SessionStatus;
  status_info: string;
  exit_code: number | null;
  app_ports: AppPort[];
  started_at: string | null;
  terminated_at: string | null;
}

export interface Session {
  id: string;
  name: string;
  type: SessionType;
  status: SessionStatus;
  status_info: string;
  status_data: Record<string, unknown>;
  status_changed_at: string;
  result: "UNDEFINED" | "SUCCESS" | "FAILURE";
  exit_code: number | null;
  image: string;
  owner_id: string;
  owner_email: string;
  creator_id: string;
  project: string;
  resource_group: string;
  agent_id: string | null;
  /** The session's agent while the session has not ended; null when PENDING or ended. */
  agent_status?: "ALIVE" | "LOST" | null;
  requested: Record<string, string>;
  environ: Record<string, string>;
  startup_command: string | null;
  starts_at: string | null;
  timeout_seconds: number | null;
  preopen_ports: number[];
  cluster_mode: string;
  cluster_size: number;
  created_at: string;
  started_at: string | null;
  terminated_at: string | null;
  kernels: Kernel[];
}

export interface HistoryEntry {
  status: string;
  status_info: string;
  status_data: Record<string, unknown>;
  at: string;
}

export interface SessionDetail extends Session {
  history: HistoryEntry[];
}

export interface SessionCounts {
  all: number;
  interactive: number;
  batch: number;
}

export interface SessionPage {
  items: Session[];
  total: number;
  offset: number;
  limit: number;
  /** Per type, with the same filters except the type: the tab counts. */
  counts: SessionCounts;
}

/** The data of one `session.status` server-sent event. */
export interface StatusEvent {
  type: "session.status";
  session_id: string;
  name: string;
  owner_id: string;
  creator_id: string;
  status: SessionStatus;
  status_info: string;
  result: string;
  exit_code: number | null;
  at: string;
}

// ---- apps (GET /api/sessions/{ref}/apps, POST .../apps/{name}/open) ------------------------

/** "http" (Jupyter, TensorBoard), "tcp" (SSH/SFTP), "pty" (the terminal), "preopen" (a user port). */
export type AppProtocol = "http" | "tcp" | "pty" | "preopen";

/** An open route of the app proxy to one app. */
export interface AppRoute {
  port: number;
  /** Without the one-time token: opening it needs the owner's permit (or a public route). */
  url: string;
  public: boolean;
  allowed_ips: string[];
  created_at: string;
  last_traffic_at: string | null;
}

export interface SessionApp {
  /** "jupyter", "terminal", "tensorboard", "sshd", "port-8080", ... */
  name: string;
  title: string;
  protocol: AppProtocol;
  /** The port inside the container (null for the terminal). */
  port: number | null;
  route: AppRoute | null;
}

export interface AppOpenBody {
  public: boolean;
  allowed_ips: string[];
  preferred_port: number | null;
  logdir: string | null;
}

export interface SshInfo {
  host: string;
  port: number;
  user: string;
}

export interface AppOpenResult {
  name: string;
  /** Absolute URL with a one-time token; "/terminal/{id}" for the terminal; null for SSH. */
  url: string | null;
  port: number | null;
  preferred_port_used: boolean | null;
  message: string;
  ssh: SshInfo | null;
}
