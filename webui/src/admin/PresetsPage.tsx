// Admin: resource presets — named resource sets the launcher offers, global or for one group.
import { Alert, Form, Input, InputNumber, Modal, Select, Space, Tag } from "antd";
import { useEffect, useState } from "react";
import { adminApi } from "./adminApi";
import { AdminListPage, applyErrors, GIB, MIB, RowActions, slotText, useList, useRowEditor } from "./shared";
import type { Preset } from "./types";

interface Values {
  name: string;
  resource_group: string | null;
  cpu: number | null;
  memGiB: number | null;
  shmemMiB: number | null;
}

const FIELDS: Record<string, string> = {
  name: "name",
  resource_group: "resource_group",
  "slots.cpu": "cpu",
  "slots.mem": "memGiB",
  "slots.shmem": "shmemMiB",
  slots: "cpu",
};

export default function PresetsPage() {
  const list = useList(() => adminApi.presets());
  const groups = useList(adminApi.groups);
  const { editing, setEditing, saved, remove } = useRowEditor(list, "Preset", (p) => adminApi.deletePreset(p.id));

  return (
    <AdminListPage<Preset>
      testId="admin-presets"
      title="Resource presets"
      intro="Named sets of resources per container that the launcher offers: global, or for one resource group."
      onCreate={() => setEditing("new")}
      createLabel="New preset"
      list={list}
      rowKey="id"
      emptyText="No presets yet: the launcher offers custom values only."
      columns={[
        { title: "Name", dataIndex: "name", render: (n: string) => <strong>{n}</strong> },
        {
          title: "Resource group",
          dataIndex: "resource_group",
          render: (g: string | null) => (g ? g : <Tag color="blue">global</Tag>),
        },
        { title: "CPU", key: "cpu", render: (_, p) => slotText("cpu", p.slots.cpu) },
        { title: "Memory", key: "mem", render: (_, p) => slotText("mem", p.slots.mem) },
        {
          title: "Shared memory",
          key: "shmem",
          render: (_, p) => (p.slots.shmem ? slotText("shmem", p.slots.shmem) : "auto"),
        },
      ]}
      actions={(p) => (
        <RowActions name={p.name} what="preset" onEdit={() => setEditing(p)} onDelete={() => remove(p)} />
      )}
    >
      <PresetDialog
        preset={editing}
        groups={(groups.data ?? []).map((g) => g.name)}
        onClose={() => setEditing(null)}
        onSaved={saved}
      />
    </AdminListPage>
  );
}

function PresetDialog({
  preset,
  groups,
  onClose,
  onSaved,
}: {
  preset: Preset | "new" | null;
  groups: string[];
  onClose: () => void;
  onSaved: (p: Preset) => void;
}) {
  const [form] = Form.useForm<Values>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isNew = preset === "new";
  useEffect(() => {
    if (!preset) return;
    setError(null);
    form.resetFields();
    if (preset !== "new") {
      form.setFieldsValue({
        name: preset.name,
        resource_group: preset.resource_group,
        cpu: preset.slots.cpu !== undefined ? Number(preset.slots.cpu) : null,
        memGiB: preset.slots.mem !== undefined ? Math.round((Number(preset.slots.mem) / GIB) * 1000) / 1000 : null,
        shmemMiB: preset.slots.shmem !== undefined ? Math.round(Number(preset.slots.shmem) / MIB) : null,
      });
    }
  }, [preset, form]);

  const submit = async (v: Values) => {
    setBusy(true);
    setError(null);
    const slots: Record<string, string> = {};
    if (v.cpu !== null && v.cpu !== undefined) slots.cpu = String(v.cpu);
    if (v.memGiB !== null && v.memGiB !== undefined) slots.mem = String(Math.round(v.memGiB * GIB));
    if (v.shmemMiB !== null && v.shmemMiB !== undefined) slots.shmem = String(Math.round(v.shmemMiB * MIB));
    const body = { name: v.name, resource_group: v.resource_group ?? null, slots };
    try {
      const saved = isNew ? await adminApi.createPreset(body) : await adminApi.updatePreset((preset as Preset).id, body);
      onSaved(saved);
    } catch (e) {
      setError(applyErrors(form, e, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={isNew ? "New preset" : `Edit preset ${(preset as Preset | null)?.name ?? ""}`}
      open={preset !== null}
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
        initialValues={{ name: "", resource_group: null, cpu: 1, memGiB: 1, shmemMiB: null }}
        onFinish={submit}
        requiredMark={false}
      >
        <Form.Item name="name" label="Name" rules={[{ required: true, message: "Enter a name" }]}>
          <Input aria-label="Name" placeholder="e.g. small" />
        </Form.Item>
        <Form.Item name="resource_group" label="Resource group" extra="Empty: a global preset, offered in every group.">
          <Select
            aria-label="Resource group"
            allowClear
            placeholder="global"
            options={groups.map((g) => ({ value: g, label: g }))}
          />
        </Form.Item>
        <Space wrap size="middle" align="start">
          <Form.Item name="cpu" label="CPU (cores)" rules={[{ required: true, message: "Enter the cores" }]}>
            <InputNumber aria-label="CPU (cores)" min={0.01} step={0.5} style={{ width: 140 }} />
          </Form.Item>
          <Form.Item name="memGiB" label="Memory (GiB)" rules={[{ required: true, message: "Enter the memory" }]}>
            <InputNumber aria-label="Memory (GiB)" min={0.0625} step={0.5} style={{ width: 140 }} />
          </Form.Item>
          <Form.Item name="shmemMiB" label="Shared memory (MiB)" extra="Empty: auto (64 MiB).">
            <InputNumber aria-label="Shared memory (MiB)" min={1} step={64} placeholder="auto" style={{ width: 160 }} />
          </Form.Item>
        </Space>
      </Form>
    </Modal>
  );
}
