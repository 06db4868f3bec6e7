// Admin: projects — a table, create/edit (name, description, policy, active), delete (refused
// while the project has sessions or folders), and the members of one.
import { TeamOutlined, UserAddOutlined } from "@ant-design/icons";
import { Alert, App, Button, Form, Input, Modal, Select, Switch, Table, Tag } from "antd";
import { useEffect, useState } from "react";
import { adminApi } from "./adminApi";
import { AdminListPage, applyErrors, emptyState, LoadError, RowActions, useList, useRowEditor } from "./shared";
import type { Policy, Project, ProjectMember } from "./types";

interface Values {
  name: string;
  description: string;
  resource_policy: string | null;
  is_active: boolean;
}

const FIELDS = ["name", "description", "resource_policy", "is_active"] as const;

export default function ProjectsPage() {
  const list = useList(adminApi.projects);
  const policies = useList(adminApi.policies);
  const { editing, setEditing, saved, remove } = useRowEditor(list, "Project", (p) => adminApi.deleteProject(p.name));
  const [members, setMembers] = useState<Project | null>(null);

  return (
    <AdminListPage<Project>
      testId="admin-projects"
      title="Projects"
      intro="Users belong to projects; a session belongs to one project, whose policy limits what its sessions hold together."
      onCreate={() => setEditing("new")}
      createLabel="New project"
      list={list}
      rowKey="id"
      emptyText="No projects yet."
      columns={[
        { title: "Name", dataIndex: "name", render: (n: string) => <strong>{n}</strong> },
        { title: "Description", dataIndex: "description", render: (d: string) => d || "—" },
        {
          title: "Status",
          dataIndex: "is_active",
          render: (a: boolean) => (a ? <Tag color="green">active</Tag> : <Tag>inactive</Tag>),
        },
        {
          title: "Resource policy",
          dataIndex: "resource_policy",
          render: (p: string | null) => p ?? <Tag>unlimited</Tag>,
        },
        {
          title: "Members",
          dataIndex: "members_count",
          render: (n: number, p) => (
            <Button size="small" icon={<TeamOutlined />} onClick={() => setMembers(p)} aria-label={`Members of ${p.name}`}>
              {n}
            </Button>
          ),
        },
      ]}
      actions={(p) => (
        <RowActions
          name={p.name}
          what="project"
          refusedWhile="Refused while it has sessions not ended or folders."
          onEdit={() => setEditing(p)}
          onDelete={() => remove(p)}
        />
      )}
    >
      <ProjectDialog
        project={editing}
        policies={policies.data ?? []}
        onClose={() => setEditing(null)}
        onSaved={saved}
      />
      <MembersDialog project={members} onClose={() => setMembers(null)} onChanged={list.reload} />
    </AdminListPage>
  );
}

function ProjectDialog({
  project,
  policies,
  onClose,
  onSaved,
}: {
  project: Project | "new" | null;
  policies: Policy[];
  onClose: () => void;
  onSaved: (p: Project) => void;
}) {
  const [form] = Form.useForm<Values>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isNew = project === "new";
  useEffect(() => {
    if (!project) return;
    setError(null);
    form.resetFields();
    if (project !== "new") {
      form.setFieldsValue({
        name: project.name,
        description: project.description,
        resource_policy: project.resource_policy,
        is_active: project.is_active,
      });
    }
  }, [project, form]);

  const submit = async (v: Values) => {
    setBusy(true);
    setError(null);
    try {
      const body = { ...v, description: v.description ?? "", resource_policy: v.resource_policy ?? null };
      const saved =
        project === "new" ? await adminApi.createProject(body) : await adminApi.updateProject((project as Project).name, body);
      onSaved(saved);
    } catch (e) {
      setError(applyErrors(form, e, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={isNew ? "New project" : `Edit project ${(project as Project | null)?.name ?? ""}`}
      open={project !== null}
      okText={isNew ? "Create" : "Save"}
      onOk={() => form.submit()}
      confirmLoading={busy}
      onCancel={onClose}
      forceRender
    >
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form
        form={form}
        layout="vertical"
        initialValues={{ name: "", description: "", resource_policy: null, is_active: true }}
        onFinish={submit}
        requiredMark={false}
      >
        <Form.Item
          name="name"
          label="Name"
          rules={[{ required: true, message: "Enter a name" }]}
          extra="1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit."
        >
          <Input autoFocus aria-label="Name" placeholder="e.g. vision-lab" />
        </Form.Item>
        <Form.Item name="description" label="Description">
          <Input.TextArea aria-label="Description" autoSize={{ minRows: 1, maxRows: 4 }} maxLength={256} />
        </Form.Item>
        <Form.Item name="resource_policy" label="Resource policy" extra="Empty: no policy (unlimited).">
          <Select
            aria-label="Resource policy"
            allowClear
            placeholder="unlimited"
            options={policies.map((p) => ({ value: p.name, label: p.name }))}
          />
        </Form.Item>
        <Form.Item name="is_active" label="Active" valuePropName="checked">
          <Switch aria-label="Active" />
        </Form.Item>
      </Form>
    </Modal>
  );
}

function MembersDialog({
  project,
  onClose,
  onChanged,
}: {
  project: Project | null;
  onClose: () => void;
  onChanged: () => void;
}) {
  const { message } = App.useApp();
  const [rows, setRows] = useState<ProjectMember[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [form] = Form.useForm<{ email: string }>();
  const [busy, setBusy] = useState(false);
  const name = project?.name;
  const load = () => {
    if (!name) return;
    adminApi.members(name).then(
      (m) => {
        setRows(m);
        setLoadError(null);
      },
      (e: Error) => setLoadError(e.message),
    );
  };
  useEffect(() => {
    setRows(null);
    form.resetFields();
    load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [name]);

  const add = async ({ email }: { email: string }) => {
    if (!name) return;
    setBusy(true);
    try {
      await adminApi.addMember(name, email.trim());
      form.resetFields();
      load();
      onChanged();
    } catch (e) {
      const left = applyErrors(form, e, ["email"]);
      if (left) form.setFields([{ name: "email", errors: [left] }]);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (m: ProjectMember) => {
    if (!name) return;
    try {
      await adminApi.removeMember(name, m.id);
      load();
      onChanged();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  return (
    <Modal title={`Members of ${name ?? ""}`} open={project !== null} onCancel={onClose} footer={null} width={640}>
      <Form form={form} layout="inline" onFinish={add} style={{ marginBottom: 12, rowGap: 8 }}>
        <Form.Item name="email" rules={[{ required: true, message: "Enter an email" }]} style={{ flex: 1, minWidth: 220 }}>
          <Input aria-label="Member email" placeholder="user@example.com" type="email" />
        </Form.Item>
        <Button type="primary" htmlType="submit" icon={<UserAddOutlined />} loading={busy}>
          Add member
        </Button>
      </Form>
      <LoadError error={loadError} />
      <Table<ProjectMember>
        rowKey="id"
        size="small"
        loading={rows === null && !loadError}
        dataSource={rows ?? []}
        pagination={false}
        locale={{ emptyText: emptyState("No members: add users by email.") }}
        columns={[
          { title: "Email", dataIndex: "email" },
          { title: "Name", dataIndex: "full_name", render: (n: string) => n || "—" },
          { title: "Role", dataIndex: "role" },
          {
            title: "",
            key: "remove",
            render: (_, m) => (
              <Button size="small" danger onClick={() => remove(m)} aria-label={`Remove ${m.email}`}>
                Remove
              </Button>
            ),
          },
        ]}
      />
    </Modal>
  );
}
