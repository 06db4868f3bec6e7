// Step 5: one card per step with an Edit link; a card with an error is marked and explains it.
import { EditOutlined, ExclamationCircleOutlined } from "@ant-design/icons";
import { Alert, Button, Card, Descriptions, Space, Tag, Typography } from "antd";
import type { Folder } from "../data/types";
import { environmentLabel, formatBytes, formatCpu, formatTime } from "../format";
import {
  findImage,
  imageRef,
  parsePorts,
  shmemBytes,
  sizeBytes,
  stepOf,
  STEP_TITLES,
  type ImageInfo,
  type LaunchForm,
  type Messages,
} from "./form";
import { acceleratorText, type Preset } from "./resources";
import { autoMounts, defaultMountPath, forcedReadOnly, resolveMountPath } from "./mounts";

interface Props {
  form: LaunchForm;
  errors: Messages;
  warnings: Messages;
  images: ImageInfo[];
  admin: boolean;
  /** The folders I can mount (names of the chosen ones, the auto-mounted dot-folders). */
  folders: Folder[] | null;
  /** To name the preset chosen. */
  presets?: Preset[];
  onEdit: (step: number) => void;
}

const LABELS: Record<string, string> = {
  name: "Session name",
  startup_command: "Startup command",
  starts_at: "Start time",
  timeout: "Timeout",
  owner_email: "Owner email",
  image: "Environment",
  "resources.cpu": "CPU",
  "resources.mem": "Memory",
  "resources.shmem": "Shared memory",
  count: "Sessions",
  "threads.omp": "OMP_NUM_THREADS",
  "threads.openblas": "OPENBLAS_NUM_THREADS",
  preopen_ports: "Preopen ports",
  agent: "Agent",
  resource_group: "Resource group",
  cluster_size: "Cluster size",
  cluster_mode: "Cluster mode",
  project: "Project",
};

function label(key: string, form: LaunchForm, folders: Folder[] | null): string {
  const mount = /^mounts\.(\d+)\.(folder|path|mode)$/.exec(key);
  if (mount) {
    const id = form.mounts[Number(mount[1])]?.folder;
    const name = folders?.find((f) => f.id === id)?.name ?? id ?? `#${Number(mount[1]) + 1}`;
    return mount[2] === "folder" ? `Folder ${name}` : `Mount ${mount[2]} of ${name}`;
  }
  if (key === "mounts") return "Mounts";
  const env = /^environ\.(\d+)\.(name|value)$/.exec(key);
  if (env) {
    const row = form.env[Number(env[1])];
    return `Variable ${row?.name || `#${Number(env[1]) + 1}`} ${env[2]}`;
  }
  if (LABELS[key]) return LABELS[key];
  // An accelerator slot: "resources.mock-gpu.shares" -> "Accelerator mock-gpu.shares".
  if (key.startsWith("resources.")) return `Accelerator ${key.slice("resources.".length)}`;
  return key;
}

export default function StepConfirm({ form, errors, warnings, images, admin, folders, presets = [], onEdit }: Props) {
  const preset = presets.find((p) => p.id === form.preset);
  const image = findImage(images, imageRef(form));
  const ports = parsePorts(form.ports).ports;
  const mem = sizeBytes(form.memValue, form.memUnit);
  const shmem = shmemBytes(form);

  const card = (step: number, body: React.ReactNode) => {
    const stepErrors = Object.entries(errors).filter(([k]) => stepOf(k) === step);
    const stepWarnings = Object.entries(warnings).filter(([k]) => stepOf(k) === step && !errors[k]);
    const bad = stepErrors.length > 0;
    return (
      <Card
        key={step}
        size="small"
        data-testid={`confirm-card-${step + 1}`}
        data-error={bad ? "true" : "false"}
        className={bad ? "launcher-card-error" : undefined}
        style={bad ? { borderColor: "#ff4d4f", boxShadow: "0 0 0 1px #ff4d4f" } : undefined}
        title={
          <Space>
            {bad && <ExclamationCircleOutlined style={{ color: "#ff4d4f" }} aria-label="has errors" />}
            <span>{STEP_TITLES[step]}</span>
          </Space>
        }
        extra={
          <Button
            type="link"
            size="small"
            icon={<EditOutlined />}
            onClick={() => onEdit(step)}
            aria-label={`Edit ${STEP_TITLES[step]}`}
          >
            Edit
          </Button>
        }
      >
        {bad && (
          <Alert
            type="error"
            showIcon
            style={{ marginBottom: 8 }}
            message={
              <div>
                {stepErrors.map(([k, m]) => (
                  <div key={k}>
                    {label(k, form, folders)}: {m}
                  </div>
                ))}
              </div>
            }
          />
        )}
        {stepWarnings.length > 0 && (
          <Alert
            type="warning"
            showIcon
            style={{ marginBottom: 8 }}
            message={
              <div>
                {stepWarnings.map(([k, m]) => (
                  <div key={k}>
                    {label(k, form, folders)}: {m}
                  </div>
                ))}
              </div>
            }
          />
        )}
        {body}
      </Card>
    );
  };

  const d = { size: "small" as const, column: { xs: 1, sm: 2 }, colon: true };
  return (
    <Space direction="vertical" style={{ width: "100%" }} size={12}>
      {errors.general && <Alert type="error" showIcon message={errors.general} />}
      {card(
        0,
        <Descriptions {...d}>
          <Descriptions.Item label="Type">
            {form.type === "batch" ? "Batch" : "Interactive"}
          </Descriptions.Item>
          <Descriptions.Item label="Name">{form.name.trim() || <i>generated</i>}</Descriptions.Item>
          {form.type === "batch" && (
            <>
              <Descriptions.Item label="Startup command" span={2}>
                <Typography.Text code>{form.startupCommand || "-"}</Typography.Text>
              </Descriptions.Item>
              <Descriptions.Item label="Start time">
                {form.startsAt ? formatTime(form.startsAt) : "as soon as possible"}
              </Descriptions.Item>
              <Descriptions.Item label="Timeout">
                {form.timeoutValue !== null ? `${form.timeoutValue}${form.timeoutUnit}` : "none"}
              </Descriptions.Item>
            </>
          )}
          {admin && form.assignOwner && (
            <Descriptions.Item label="Owner">{form.ownerEmail || "-"}</Descriptions.Item>
          )}
          <Descriptions.Item label="Project">{form.project || <i>default</i>}</Descriptions.Item>
        </Descriptions>,
      )}
      {card(
        1,
        <Descriptions {...d}>
          <Descriptions.Item label="Environment" span={2}>
            {image ? `${environmentLabel(image.display_name, image.version)} ` : ""}
            <Typography.Text code>{imageRef(form) || "-"}</Typography.Text>
          </Descriptions.Item>
          <Descriptions.Item label="Resource group">{form.resourceGroup}</Descriptions.Item>
          <Descriptions.Item label="Preset">{preset ? preset.name : "custom"}</Descriptions.Item>
          <Descriptions.Item label="CPU">{form.cpu !== null ? formatCpu(String(form.cpu)) : "-"}</Descriptions.Item>
          <Descriptions.Item label="Memory">{mem ? formatBytes(mem) : "-"}</Descriptions.Item>
          <Descriptions.Item label="Shared memory">
            {shmem ? formatBytes(shmem) : "-"}
            {form.shmemAuto ? " (auto)" : ""}
          </Descriptions.Item>
          <Descriptions.Item label="Accelerator">
            {form.accelerator && form.acceleratorAmount
              ? acceleratorText(form.accelerator, form.acceleratorAmount)
              : "none"}
          </Descriptions.Item>
          <Descriptions.Item label="Sessions">{form.count ?? "-"}</Descriptions.Item>
          <Descriptions.Item label="Agent">{form.agent || "auto"}</Descriptions.Item>
          <Descriptions.Item label="Cluster">
            {(form.clusterSize ?? 1) > 1
              ? `${form.clusterMode}, ${form.clusterSize} containers`
              : "single container"}
          </Descriptions.Item>
          <Descriptions.Item label="Threads">
            {form.threadsAuto ? "auto (= CPU cores)" : `OMP ${form.omp ?? "-"}, OpenBLAS ${form.openblas ?? "-"}`}
          </Descriptions.Item>
          <Descriptions.Item label="Variables">
            {form.env.length === 0
              ? "none"
              : form.env.map((r, i) => (
                  <Tag key={i}>
                    {r.name}={r.value}
                  </Tag>
                ))}
          </Descriptions.Item>
        </Descriptions>,
      )}
      {card(
        2,
        <MountSummary form={form} folders={folders} />,
      )}
      {card(
        3,
        <Descriptions {...d}>
          <Descriptions.Item label="Preopen ports">
            {ports.length ? ports.join(", ") : "none"}
          </Descriptions.Item>
        </Descriptions>,
      )}
    </Space>
  );
}

/** The Data & storage card: folder -> path (ro), the auto-mounted dot-folders, or the warning
 * that nothing survives the session. */
function MountSummary({ form, folders }: { form: LaunchForm; folders: Folder[] | null }) {
  const auto = autoMounts(form.mounts, folders);
  if (form.mounts.length === 0 && auto.length === 0) {
    return (
      <Alert
        type="warning"
        showIcon
        data-testid="no-folder-warning"
        message={
          <>
            No folder mounted: <Typography.Text code>/home/work</Typography.Text> is a scratch
            directory, deleted when the session ends.
          </>
        }
      />
    );
  }
  const rows = form.mounts.map((m) => {
    const folder = folders?.find((f) => f.id === m.folder);
    const name = folder?.name ?? m.folder;
    return { key: m.folder, name, path: resolveMountPath(m.path, name), ro: m.ro || (!!folder && forcedReadOnly(folder)), auto: false };
  });
  for (const f of auto) {
    rows.push({ key: f.id, name: f.name, path: defaultMountPath(f.name), ro: forcedReadOnly(f), auto: true });
  }
  return (
    <Space direction="vertical" size={4} style={{ width: "100%" }} data-testid="confirm-mounts">
      {rows.map((r) => (
        <div key={r.key} data-testid="confirm-mount" style={{ overflowWrap: "anywhere" }}>
          <Typography.Text strong>{r.name}</Typography.Text> →{" "}
          <Typography.Text code>{r.path}</Typography.Text>{" "}
          {r.ro ? <Tag color="orange">ro</Tag> : <Tag color="green">rw</Tag>}
          {r.auto && <Tag>auto</Tag>}
        </div>
      ))}
    </Space>
  );
}
