// Admin: resource policies — every limit a user or project may be given; an empty limit is
// unlimited. Projects get one on the Projects page; users here ("Give to a user").
import { UserSwitchOutlined } from "@ant-design/icons";
import {
  Alert,
  App,
  Button,
  Col,
  Divider,
  Form,
  Grid,
  Input,
  InputNumber,
  Modal,
  Row,
  Select,
  Space,
  Tooltip,
  Typography,
} from "antd";
import type { Breakpoint } from "antd";
import { useEffect, useState } from "react";
import { adminApi } from "./adminApi";
import {
  EMPTY_IDLE,
  IDLE_ERROR_FIELDS,
  idleBody,
  idleProblem,
  idleValues,
  splitIdle,
  storedIdle,
  type IdleFormValues,
} from "./idle";
import IdleSettingsFields, { IdleCell } from "./IdleSettingsFields";
import {
  AdminListPage,
  applyErrors,
  bytesToGib,
  gibToBytes,
  limitText,
  secondsText,
  slotText,
  RowActions,
  useList,
  useRowEditor,
} from "./shared";
import type { Policy } from "./types";

type Num = number | null;
/** Columns a phone leaves out (Edit shows every limit). */
const WIDE: Breakpoint[] = ["md"];
interface Values {
  name: string;
  description: string;
  cpu: Num;
  memGiB: Num;
  max_concurrent_sessions: Num;
  max_pending_sessions: Num;
  max_containers_per_session: Num;
  lifetimeHours: Num;
  idleMinutes: Num;
  max_folders: Num;
  max_customized_images: Num;
}

const FIELDS: Record<string, string> = {
  name: "name",
  description: "description",
  "total_slots.cpu": "cpu",
  "total_slots.mem": "memGiB",
  total_slots: "cpu",
  max_concurrent_sessions: "max_concurrent_sessions",
  max_pending_sessions: "max_pending_sessions",
  max_containers_per_session: "max_containers_per_session",
  max_session_lifetime: "lifetimeHours",
  idle_timeout: "idleMinutes",
  max_folders: "max_folders",
  max_customized_images: "max_customized_images",
};

const EMPTY: Values = {
  name: "",
  description: "",
  cpu: null,
  memGiB: null,
  max_concurrent_sessions: null,
  max_pending_sessions: null,
  max_containers_per_session: null,
  lifetimeHours: null,
  idleMinutes: null,
  max_folders: null,
  max_customized_images: null,
};

/** A policy's form values -> the API body (empty = null = unlimited). */
export function policyBody(v: Values): Omit<Policy, "users" | "projects"> {
  const total: Record<string, string> = {};
  if (v.cpu !== null && v.cpu !== undefined) total.cpu = String(v.cpu);
  const mem = gibToBytes(v.memGiB);
  if (mem !== undefined) total.mem = mem;
  const n = (x: Num | undefined) => (x === undefined ? null : x);
  return {
    name: v.name,
    description: v.description ?? "",
    total_slots: total,
    max_concurrent_sessions: n(v.max_concurrent_sessions),
    max_pending_sessions: n(v.max_pending_sessions),
    max_containers_per_session: n(v.max_containers_per_session),
    max_session_lifetime: v.lifetimeHours === null || v.lifetimeHours === undefined ? null : Math.round(v.lifetimeHours * 3600),
    idle_timeout: v.idleMinutes === null || v.idleMinutes === undefined ? null : Math.round(v.idleMinutes * 60),
    max_folders: n(v.max_folders),
    max_customized_images: n(v.max_customized_images),
  };
}

export function policyValues(p: Policy): Values {
  return {
    name: p.name,
    description: p.description,
    cpu: p.total_slots.cpu !== undefined ? Number(p.total_slots.cpu) : null,
    memGiB: bytesToGib(p.total_slots.mem),
    max_concurrent_sessions: p.max_concurrent_sessions,
    max_pending_sessions: p.max_pending_sessions,
    max_containers_per_session: p.max_containers_per_session,
    lifetimeHours: p.max_session_lifetime === null ? null : p.max_session_lifetime / 3600,
    idleMinutes: p.idle_timeout === null ? null : p.idle_timeout / 60,
    max_folders: p.max_folders,
    max_customized_images: p.max_customized_images,
  };
}

export default function PoliciesPage() {
  const { message } = App.useApp();
  const list = useList(adminApi.policies);
  const { editing, setEditing, saved, remove } = useRowEditor(list, "Policy", (p) => adminApi.deletePolicy(p.name));
  const [giving, setGiving] = useState<Policy | null>(null);
  const narrow = !Grid.useBreakpoint().md;

  return (
    <AdminListPage<Policy>
      testId="admin-policies"
      title="Resource policies"
      intro="Limits for users and projects. An empty limit is unlimited; a request over a total is refused, one over what is left now waits."
      onCreate={() => setEditing("new")}
      createLabel="New policy"
      list={list}
      rowKey="name"
      emptyText="No policies yet: every user and project is unlimited."
      columns={[
        {
          title: "Name",
          dataIndex: "name",
          render: (n: string, p) => (
            <Space direction="vertical" size={0}>
              <strong>{n}</strong>
              {p.description && <Typography.Text type="secondary">{p.description}</Typography.Text>}
            </Space>
          ),
        },
        { title: "CPU total", key: "cpu", render: (_, p) => slotText("cpu", p.total_slots.cpu) },
        { title: "Memory total", key: "mem", render: (_, p) => slotText("mem", p.total_slots.mem) },
        { title: "Concurrent", dataIndex: "max_concurrent_sessions", render: (v: Num) => limitText(v) },
        { title: "Pending", responsive: WIDE, dataIndex: "max_pending_sessions", render: (v: Num) => limitText(v) },
        { title: "Containers / session", responsive: WIDE, dataIndex: "max_containers_per_session", render: (v: Num) => limitText(v) },
        { title: "Lifetime", responsive: WIDE, dataIndex: "max_session_lifetime", render: (v: Num) => secondsText(v) },
        { title: "Idle timeout", responsive: WIDE, dataIndex: "idle_timeout", render: (v: Num) => secondsText(v) },
        {
          title: "Utilization check",
          key: "idle",
          responsive: WIDE,
          // Its lifetime and idle timeout have columns of their own.
          render: (_, p) => (
            <IdleCell settings={{ ...p, max_session_lifetime: null, idle_timeout: null }} testId={`policy-idle-${p.name}`} />
          ),
        },
        { title: "Folders", responsive: WIDE, dataIndex: "max_folders", render: (v: Num) => limitText(v) },
        { title: "Custom images", responsive: WIDE, dataIndex: "max_customized_images", render: (v: Num) => limitText(v) },
        {
          title: "Used by",
          key: "used",
          responsive: WIDE,
          render: (_, p) =>
            p.users === undefined ? "—" : `${p.users} user${p.users === 1 ? "" : "s"}, ${p.projects ?? 0} project${p.projects === 1 ? "" : "s"}`,
        },
      ]}
      actions={(p) => (
        <RowActions
          name={p.name}
          what="policy"
          refusedWhile="Refused while users or projects have it."
          onEdit={() => setEditing(p)}
          onDelete={() => remove(p)}
          editText={narrow ? null : "Edit"}
          extra={
            <Tooltip title="Give to a user">
              <Button
                size="small"
                icon={<UserSwitchOutlined />}
                onClick={() => setGiving(p)}
                aria-label={`Give ${p.name} to a user`}
              />
            </Tooltip>
          }
        />
      )}
    >
      <PolicyDialog
        policy={editing}
        onClose={() => setEditing(null)}
        onSaved={saved}
      />
      <GiveDialog
        policy={giving}
        onClose={() => setGiving(null)}
        onDone={(email) => {
          message.success(`${email} now has the policy ${giving?.name}`);
          setGiving(null);
          list.reload();
        }}
      />
    </AdminListPage>
  );
}

function LimitInput({ name, label, extra, min = 0, step = 1, precision }: {
  name: keyof Values;
  label: string;
  extra?: string;
  min?: number;
  step?: number;
  precision?: number;
}) {
  return (
    <Col xs={24} sm={12}>
      <Form.Item name={name} label={label} extra={extra}>
        <InputNumber aria-label={label} min={min} step={step} precision={precision} placeholder="unlimited" style={{ width: "100%" }} />
      </Form.Item>
    </Col>
  );
}

function PolicyDialog({
  policy,
  onClose,
  onSaved,
}: {
  policy: Policy | "new" | null;
  onClose: () => void;
  onSaved: (p: Policy) => void;
}) {
  const [form] = Form.useForm<Values & IdleFormValues>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isNew = policy === "new";
  useEffect(() => {
    if (!policy) return;
    setError(null);
    form.resetFields();
    if (policy !== "new") form.setFieldsValue({ ...policyValues(policy), ...idleValues(policy, false) });
  }, [policy, form]);

  const submit = async (values: Values & IdleFormValues) => {
    // The idle fields are mounted only once their section is opened: take them from the store.
    const { idle, rest: v } = splitIdle({ ...values, ...storedIdle(form.getFieldsValue(true)) });
    const problem = idleProblem(idle);
    if (problem) {
      form.setFields([{ name: problem.field, errors: [problem.message] }]);
      return;
    }
    setBusy(true);
    setError(null);
    // The policy's lifetime and idle timeout are among its limits (policyBody).
    const { max_session_lifetime: _l, idle_timeout: _i, ...idleSettings } = idleBody(idle, false);
    const body = { ...policyBody({ ...EMPTY, ...v }), ...idleSettings };
    try {
      const saved = isNew
        ? await adminApi.createPolicy(body)
        : await adminApi.updatePolicy((policy as Policy).name, { ...body, name: undefined });
      onSaved(saved);
    } catch (e) {
      setError(applyErrors(form, e, { ...FIELDS, ...IDLE_ERROR_FIELDS }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={isNew ? "New resource policy" : `Edit resource policy ${(policy as Policy | null)?.name ?? ""}`}
      open={policy !== null}
      okText={isNew ? "Create" : "Save"}
      onOk={() => form.submit()}
      confirmLoading={busy}
      onCancel={onClose}
      forceRender
      width={640}
    >
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form form={form} layout="vertical" initialValues={{ ...EMPTY, ...EMPTY_IDLE }} onFinish={submit} requiredMark={false}>
        <Row gutter={16}>
          <Col xs={24} sm={12}>
            <Form.Item name="name" label="Name" rules={[{ required: true, message: "Enter a name" }]}>
              <Input aria-label="Name" disabled={!isNew} placeholder="e.g. small" />
            </Form.Item>
          </Col>
          <Col xs={24} sm={12}>
            <Form.Item name="description" label="Description">
              <Input aria-label="Description" maxLength={256} />
            </Form.Item>
          </Col>
        </Row>
        <Typography.Text type="secondary">Leave a limit empty for unlimited.</Typography.Text>
        <Divider orientation="left" plain style={{ margin: "8px 0" }}>
          Resources held together
        </Divider>
        <Row gutter={16}>
          <LimitInput name="cpu" label="CPU total (cores)" min={0} step={1} />
          <LimitInput name="memGiB" label="Memory total (GiB)" min={0} step={1} />
        </Row>
        <Divider orientation="left" plain style={{ margin: "8px 0" }}>
          Sessions
        </Divider>
        <Row gutter={16}>
          <LimitInput name="max_concurrent_sessions" label="Concurrent sessions" precision={0} extra="Running at once; more wait." />
          <LimitInput name="max_pending_sessions" label="Pending sessions" precision={0} extra="Waiting at once; more are refused." />
          <LimitInput name="max_containers_per_session" label="Containers per session" min={1} precision={0} extra="The largest cluster size." />
          <LimitInput
            name="lifetimeHours"
            label="Session lifetime (hours)"
            min={0.01}
            step={1}
            extra="Also the idle check's max lifetime (over the group's)."
          />
          <LimitInput
            name="idleMinutes"
            label="Idle timeout (minutes)"
            min={0}
            step={5}
            extra="The network idle check; empty: the group's; 0: off."
          />
        </Row>
        <IdleSettingsFields group={false} />
        <Divider orientation="left" plain style={{ margin: "8px 0" }}>
          Storage and images
        </Divider>
        <Row gutter={16}>
          <LimitInput name="max_folders" label="Folders" precision={0} extra="Owned folders, the trash included." />
          <LimitInput name="max_customized_images" label="Customized images" precision={0} />
        </Row>
      </Form>
    </Modal>
  );
}

function GiveDialog({ policy, onClose, onDone }: { policy: Policy | null; onClose: () => void; onDone: (email: string) => void }) {
  const [users, setUsers] = useState<{ id: string; email: string }[] | null>(null);
  const [pick, setPick] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!policy) return;
    setPick(null);
    setError(null);
    adminApi.users().then(setUsers, (e: Error) => setError(e.message));
  }, [policy]);
  const give = async () => {
    const user = users?.find((u) => u.id === pick);
    if (!user || !policy) return;
    setBusy(true);
    try {
      await adminApi.updateUser(user.id, { resource_policy: policy.name });
      onDone(user.email);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      title={`Give the policy ${policy?.name ?? ""} to a user`}
      open={policy !== null}
      onCancel={onClose}
      onOk={give}
      okText="Give"
      okButtonProps={{ disabled: !pick }}
      confirmLoading={busy}
    >
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Select
        aria-label="User"
        showSearch
        style={{ width: "100%" }}
        placeholder="Search users by email"
        loading={users === null && !error}
        value={pick}
        onChange={setPick}
        optionFilterProp="label"
        options={(users ?? []).map((u) => ({ value: u.id, label: u.email }))}
      />
    </Modal>
  );
}
