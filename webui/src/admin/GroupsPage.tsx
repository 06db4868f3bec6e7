// Admin: resource groups — settings (scheduler, agent selection, session types, pending
// timeout, accelerator shares' step and policy) and who may use each (projects, users; none:
// everyone), create/edit/delete.
import {
  Alert,
  Checkbox,
  Form,
  Input,
  InputNumber,
  Modal,
  Radio,
  Select,
  Space,
  Switch,
  Tag,
  Typography,
} from "antd";
import { useEffect, useState } from "react";
import { adminApi } from "./adminApi";
import {
  EMPTY_IDLE,
  GROUP_IDLE_ERROR_FIELDS,
  idleBody,
  idleProblem,
  idleValues,
  splitIdle,
  storedIdle,
  type IdleFormValues,
  type IdleSettings,
} from "./idle";
import IdleSettingsFields, { IdleCell } from "./IdleSettingsFields";
import { AdminListPage, applyErrors, RowActions, secondsText, useList, useRowEditor } from "./shared";
import type { ResourceGroup as GroupBase } from "./types";

export type AcceleratorPolicy = "fill" | "spread";

/** A group as the API gives it, with its accelerator and idle-check settings. */
export type ResourceGroup = GroupBase &
  IdleSettings & {
    /** Decimal string in (0, 1]: the step of accelerator shares. */
    accelerator_quantum: string;
    accelerator_policy: AcceleratorPolicy | string;
  };
type GroupSettings = Omit<ResourceGroup, keyof IdleSettings>;

/** The dialog's values: the quantum as a number (sent as a decimal string), the idle
 * settings in minutes and hours. */
type Values = Omit<GroupSettings, "agents" | "accelerator_quantum" | "accelerator_policy"> &
  IdleFormValues & {
    accelerator_quantum: number | null;
    accelerator_policy: AcceleratorPolicy;
  };

const IDLE_KEYS = [
  "max_session_lifetime",
  "idle_timeout",
  "utilization_window",
  "grace_period",
  "utilization_thresholds",
  "utilization_combine",
  "warn_before",
] as const;

/** A group -> the dialog's values. */
export function groupValues(g: ResourceGroup): Values {
  const { agents: _agents, ...all } = g;
  const rest = Object.fromEntries(Object.entries(all).filter(([k]) => !(IDLE_KEYS as readonly string[]).includes(k))) as Omit<
    GroupSettings,
    "agents"
  >;
  const quantum = Number(g.accelerator_quantum);
  return {
    ...rest,
    ...idleValues(g, true),
    accelerator_quantum: Number.isFinite(quantum) && quantum > 0 ? quantum : DEFAULT_QUANTUM,
    accelerator_policy: g.accelerator_policy === "spread" ? "spread" : "fill",
  };
}

/** The dialog's values -> the create/update body (the quantum as a decimal string: "0.1",
 * never a binary fraction's digits; the idle settings in seconds, null where not set). */
export function groupBody(
  v: Values,
): Partial<GroupBase> & IdleSettings & { accelerator_quantum?: string; accelerator_policy: AcceleratorPolicy } {
  const { idle, rest } = splitIdle(v);
  const { accelerator_quantum: q, ...others } = rest;
  return {
    ...others,
    ...idleBody(idle, true),
    accelerator_quantum: q === null || q === undefined ? undefined : String(Number(q.toFixed(4))),
  };
}

const DEFAULT_QUANTUM = 0.1;
export const POLICIES = [
  { value: "fill", label: "Fill", help: "Packs shares onto the most used device that fits: keeps whole devices free." },
  { value: "spread", label: "Spread", help: "Puts shares on the least used device: less contention." },
];

const FIELDS = [
  "name",
  "description",
  "is_active",
  "scheduler",
  "agent_selection",
  "allowed_session_types",
  "pending_timeout",
  "accelerator_quantum",
  "accelerator_policy",
  "allow_sudo",
  "projects",
  "users",
] as const;
const ERROR_FIELDS: Record<string, string> = {
  ...Object.fromEntries(FIELDS.map((f) => [f, f])),
  ...GROUP_IDLE_ERROR_FIELDS,
};

export const SCHEDULERS = [
  { value: "fifo", label: "FIFO", help: "first come, first served" },
  { value: "lifo", label: "LIFO", help: "newest first" },
  { value: "drf", label: "DRF", help: "dominant resource fairness: who holds least goes first" },
];
export const SELECTIONS = [
  { value: "dispersed", label: "Dispersed", help: "spread sessions over agents" },
  { value: "concentrated", label: "Concentrated", help: "pack agents before using the next" },
];

const DEFAULTS: Values = {
  name: "",
  description: "",
  is_active: true,
  scheduler: "fifo",
  agent_selection: "dispersed",
  allowed_session_types: ["interactive", "batch"],
  pending_timeout: 0,
  accelerator_quantum: DEFAULT_QUANTUM,
  accelerator_policy: "fill",
  allow_sudo: false,
  projects: [],
  users: [],
  ...EMPTY_IDLE,
  idle_utilization: "off",
};

export default function GroupsPage() {
  // The API sends the accelerator settings (admin/types.ts does not name them yet).
  const list = useList(adminApi.groups as () => Promise<ResourceGroup[]>);
  const projects = useList(adminApi.projects);
  const users = useList(adminApi.users);
  const { editing, setEditing, saved, remove } = useRowEditor(list, "Resource group", (g) => adminApi.deleteGroup(g.name));

  return (
    <AdminListPage<ResourceGroup>
      testId="admin-groups"
      title="Resource groups"
      intro="Each agent belongs to one group; a group orders its queue and decides who may launch on its agents."
      onCreate={() => setEditing("new")}
      createLabel="New resource group"
      list={list}
      rowKey="name"
      emptyText="No resource groups yet."
      columns={[
        {
          title: "Name",
          dataIndex: "name",
          render: (n: string, g) => (
            <Space direction="vertical" size={0}>
              <strong>{n}</strong>
              {g.description && <Typography.Text type="secondary">{g.description}</Typography.Text>}
            </Space>
          ),
        },
        {
          title: "Status",
          dataIndex: "is_active",
          render: (a: boolean) => (a ? <Tag color="green">active</Tag> : <Tag>inactive</Tag>),
        },
        {
          title: "Scheduler",
          key: "scheduler",
          render: (_, g) => (
            <Space direction="vertical" size={0}>
              <span>{g.scheduler.toUpperCase()}</span>
              <Typography.Text type="secondary">{g.agent_selection}</Typography.Text>
            </Space>
          ),
        },
        {
          title: "Session types",
          dataIndex: "allowed_session_types",
          render: (t: string[], g) => (
            <>
              {t.map((x) => (
                <Tag key={x}>{x}</Tag>
              ))}
              {g.allow_sudo && (
                <Tag color="orange" data-testid={`group-sudo-${g.name}`} title="Sessions may use sudo (root in the container)">
                  sudo
                </Tag>
              )}
            </>
          ),
        },
        {
          title: "Pending timeout",
          dataIndex: "pending_timeout",
          render: (s: number) => (s ? secondsText(s) : "none"),
        },
        {
          title: "Accelerator shares",
          key: "accelerators",
          render: (_, g) => (
            <Space direction="vertical" size={0} data-testid={`group-accelerators-${g.name}`}>
              <span>step {Number(g.accelerator_quantum ?? DEFAULT_QUANTUM)}</span>
              <Typography.Text type="secondary">{g.accelerator_policy ?? "fill"}</Typography.Text>
            </Space>
          ),
        },
        {
          title: "Who may use it",
          key: "access",
          render: (_, g) =>
            g.projects.length + g.users.length === 0 ? (
              <Tag color="blue">everyone</Tag>
            ) : (
              <Space size={[4, 4]} wrap style={{ maxWidth: 320 }}>
                {g.projects.map((p) => (
                  <Tag key={`p-${p}`} color="purple">
                    project {p}
                  </Tag>
                ))}
                {g.users.map((u) => (
                  <Tag key={`u-${u}`}>{u}</Tag>
                ))}
              </Space>
            ),
        },
        {
          title: "Idle checks",
          key: "idle",
          render: (_, g) => <IdleCell settings={g} testId={`group-idle-${g.name}`} />,
        },
        { title: "Agents", dataIndex: "agents" },
      ]}
      actions={(g) => (
        <RowActions
          name={g.name}
          what="resource group"
          refusedWhile="Refused while agents or sessions are in it."
          onEdit={() => setEditing(g)}
          onDelete={() => remove(g)}
        />
      )}
    >
      <GroupDialog
        group={editing}
        projectNames={(projects.data ?? []).map((p) => p.name)}
        userEmails={(users.data ?? []).map((u) => u.email)}
        onClose={() => setEditing(null)}
        onSaved={saved}
      />
    </AdminListPage>
  );
}

function GroupDialog({
  group,
  projectNames,
  userEmails,
  onClose,
  onSaved,
}: {
  group: ResourceGroup | "new" | null;
  projectNames: string[];
  userEmails: string[];
  onClose: () => void;
  onSaved: (g: ResourceGroup) => void;
}) {
  const [form] = Form.useForm<Values>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isNew = group === "new";
  const policy = Form.useWatch("accelerator_policy", form);
  useEffect(() => {
    if (!group) return;
    setError(null);
    form.resetFields();
    if (group !== "new") form.setFieldsValue(groupValues(group));
  }, [group, form]);

  const submit = async (values: Values) => {
    // The idle fields are mounted only once their section is opened: take them from the store.
    const v: Values = { ...DEFAULTS, ...values, ...storedIdle(form.getFieldsValue(true)) };
    const problem = idleProblem(v);
    if (problem) {
      form.setFields([{ name: problem.field, errors: [problem.message] }]);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = groupBody(v);
      const saved = isNew
        ? await adminApi.createGroup(body)
        : await adminApi.updateGroup((group as ResourceGroup).name, { ...body, name: undefined });
      onSaved(saved as ResourceGroup);
    } catch (e) {
      setError(applyErrors(form, e, ERROR_FIELDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={isNew ? "New resource group" : `Edit resource group ${(group as ResourceGroup | null)?.name ?? ""}`}
      open={group !== null}
      okText={isNew ? "Create" : "Save"}
      onOk={() => form.submit()}
      confirmLoading={busy}
      onCancel={onClose}
      forceRender
      width={620}
    >
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form form={form} layout="vertical" initialValues={DEFAULTS} onFinish={submit} requiredMark={false}>
        <Form.Item
          name="name"
          label="Name"
          rules={[{ required: true, message: "Enter a name" }]}
          extra={isNew ? "1-64 characters: letters, digits, '.', '_' and '-'." : "A group's name cannot change."}
        >
          <Input aria-label="Name" disabled={!isNew} placeholder="e.g. gpu" />
        </Form.Item>
        <Form.Item name="description" label="Description">
          <Input aria-label="Description" maxLength={256} />
        </Form.Item>
        <Form.Item name="is_active" label="Active" valuePropName="checked" extra="Inactive: no new sessions in it.">
          <Switch aria-label="Active" />
        </Form.Item>
        <Form.Item name="scheduler" label="Scheduler" extra="The order within a priority.">
          <Radio.Group aria-label="Scheduler">
            {SCHEDULERS.map((s) => (
              <Radio key={s.value} value={s.value} title={s.help}>
                {s.label}
              </Radio>
            ))}
          </Radio.Group>
        </Form.Item>
        <Form.Item name="agent_selection" label="Agent selection">
          <Radio.Group aria-label="Agent selection">
            {SELECTIONS.map((s) => (
              <Radio key={s.value} value={s.value}>
                {s.label} <Typography.Text type="secondary">— {s.help}</Typography.Text>
              </Radio>
            ))}
          </Radio.Group>
        </Form.Item>
        <Form.Item
          name="allowed_session_types"
          label="Session types"
          rules={[{ required: true, type: "array", min: 1, message: "Allow at least one type" }]}
        >
          <Checkbox.Group
            aria-label="Session types"
            options={[
              { value: "interactive", label: "Interactive" },
              { value: "batch", label: "Batch" },
            ]}
          />
        </Form.Item>
        <Form.Item
          name="allow_sudo"
          label="Allow sudo in sessions"
          valuePropName="checked"
          extra="Users become root in their containers with sudo, e.g. to apt-get install packages before converting a session to an image. Off: sessions run without new privileges and sudo refuses."
        >
          <Switch aria-label="Allow sudo in sessions" />
        </Form.Item>
        <Form.Item
          name="pending_timeout"
          label="Pending timeout (seconds)"
          extra="A session waiting longer is cancelled with this reason; 0: it waits as long as it takes."
        >
          <InputNumber aria-label="Pending timeout" min={0} precision={0} style={{ width: 200 }} />
        </Form.Item>
        <Space wrap size={[24, 0]} align="start">
          <Form.Item
            name="accelerator_quantum"
            label="Accelerator shares step"
            rules={[{ required: true, message: "Enter a step from 0.01 to 1" }]}
            extra="A fraction of one device is asked in multiples of this (0.01-1)."
            style={{ maxWidth: 260 }}
          >
            <InputNumber aria-label="Accelerator shares step" min={0.01} max={1} step={0.1} style={{ width: 160 }} />
          </Form.Item>
          <Form.Item
            name="accelerator_policy"
            label="Accelerator shares policy"
            extra={<span data-testid="policy-help">{POLICIES.find((p) => p.value === policy)?.help}</span>}
            style={{ maxWidth: 260 }}
          >
            <Select
              aria-label="Accelerator shares policy"
              style={{ width: 160 }}
              options={POLICIES.map((p) => ({ value: p.value, label: p.label, title: p.help }))}
            />
          </Form.Item>
        </Space>
        <IdleSettingsFields group />
        <Form.Item
          name="projects"
          label="Projects allowed"
          extra="Members of these projects may use the group. No projects and no users: everyone may."
        >
          <Select
            aria-label="Projects allowed"
            mode="multiple"
            allowClear
            placeholder="everyone"
            options={projectNames.map((n) => ({ value: n, label: n }))}
          />
        </Form.Item>
        <Form.Item name="users" label="Users allowed" extra="Type or pick emails.">
          <Select
            aria-label="Users allowed"
            mode="tags"
            allowClear
            tokenSeparators={[",", " "]}
            options={userEmails.map((e) => ({ value: e, label: e }))}
          />
        </Form.Item>
      </Form>
    </Modal>
  );
}
