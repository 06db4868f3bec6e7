// Step 1: session type and name; batch options; admins may assign the owner.
import { DatePicker, Form, Input, InputNumber, Radio, Select, Space, Switch, Typography } from "antd";
import dayjs from "dayjs";
import { timezoneName } from "../format";
import type { TimeUnit } from "./form";
import { fieldStatus, type StepProps } from "./fields";

const UNITS: { value: TimeUnit; label: string }[] = [
  { value: "s", label: "seconds" },
  { value: "m", label: "minutes" },
  { value: "h", label: "hours" },
  { value: "d", label: "days" },
  { value: "w", label: "weeks" },
];

interface Props extends StepProps {
  admin: boolean;
  /** The owner's projects (names, sorted); null while not known. */
  projects: string[] | null;
}

export default function StepType({ form, setForm, errors, warnings, admin, projects }: Props) {
  const f = (key: string, hint?: React.ReactNode) => fieldStatus(key, errors, warnings, hint);
  const owner = admin && form.assignOwner && form.ownerEmail.trim() ? form.ownerEmail.trim() : null;
  const projectOptions = [
    { value: "", label: projects?.length ? `Default (${projects[0]})` : "Default" },
    ...(projects ?? []).map((p) => ({ value: p, label: p })),
  ];
  if (form.project && !(projects ?? []).includes(form.project)) {
    projectOptions.push({ value: form.project, label: form.project });
  }
  return (
    <Form layout="vertical" onSubmitCapture={(e) => e.preventDefault()}>
      <Form.Item label="Session type">
        <Radio.Group
          value={form.type}
          onChange={(e) => setForm({ type: e.target.value as "interactive" | "batch" })}
          optionType="button"
          buttonStyle="solid"
          aria-label="Session type"
        >
          <Radio.Button value="interactive">Interactive</Radio.Button>
          <Radio.Button value="batch">Batch</Radio.Button>
        </Radio.Group>
        <Typography.Paragraph type="secondary" style={{ marginTop: 8, marginBottom: 0 }}>
          {form.type === "interactive"
            ? "You work in the session after it starts. It runs until you terminate it."
            : "The startup command runs as soon as the session is ready; the session ends when the command exits."}
        </Typography.Paragraph>
      </Form.Item>
      <Form.Item
        label="Session name"
        htmlFor="launch-name"
        {...f("name", "Optional. 4 to 64 characters: letters, digits, '_', '-', '.'; empty: a generated name.")}
      >
        <Input
          id="launch-name"
          value={form.name}
          placeholder="e.g. my-notebook"
          maxLength={80}
          onChange={(e) => setForm({ name: e.target.value })}
          allowClear
        />
      </Form.Item>
      {form.type === "batch" && (
        <>
          <Form.Item
            label="Startup command"
            htmlFor="launch-command"
            required
            {...f("startup_command", "Runs in /home/work; the session ends when it exits.")}
          >
            <Input.TextArea
              id="launch-command"
              value={form.startupCommand}
              autoSize={{ minRows: 2, maxRows: 6 }}
              placeholder="e.g. python train.py"
              onChange={(e) => setForm({ startupCommand: e.target.value })}
              style={{ fontFamily: "monospace" }}
            />
          </Form.Item>
          <Space size="large" wrap align="start">
            <Form.Item
              label="Start time"
              htmlFor="launch-starts-at"
              {...f("starts_at", `Optional; not before this time (${timezoneName()}). It may wait longer for resources.`)}
              style={{ maxWidth: 320 }}
            >
              <DatePicker
                id="launch-starts-at"
                showTime
                value={form.startsAt ? dayjs(form.startsAt) : null}
                onChange={(d) => setForm({ startsAt: d ? d.toISOString() : "" })}
                format="YYYY-MM-DD HH:mm"
                style={{ width: 220 }}
              />
            </Form.Item>
            <Form.Item
              label="Timeout"
              htmlFor="launch-timeout"
              {...f("timeout", "Optional; the session is terminated after this long.")}
              style={{ maxWidth: 320 }}
            >
              <Space.Compact>
                <InputNumber
                  id="launch-timeout"
                  min={0}
                  value={form.timeoutValue}
                  placeholder="none"
                  onChange={(v) => setForm({ timeoutValue: v === null ? null : Number(v) })}
                  style={{ width: 110 }}
                />
                <Select
                  aria-label="Timeout unit"
                  value={form.timeoutUnit}
                  options={UNITS}
                  onChange={(v) => setForm({ timeoutUnit: v })}
                  style={{ width: 110 }}
                />
              </Space.Compact>
            </Form.Item>
          </Space>
        </>
      )}
      {admin && (
        <Form.Item label="Assign the owner" htmlFor="launch-assign-owner">
          <Space direction="vertical" style={{ width: "100%" }}>
            <Switch
              id="launch-assign-owner"
              checked={form.assignOwner}
              onChange={(v) => setForm({ assignOwner: v })}
            />
            {form.assignOwner && (
              <Form.Item
                noStyle={false}
                style={{ marginBottom: 0 }}
                {...f("owner_email", "The session is created for this user (admins only).")}
              >
                <Input
                  aria-label="Owner email"
                  type="email"
                  value={form.ownerEmail}
                  placeholder="user@example.com"
                  onChange={(e) => setForm({ ownerEmail: e.target.value })}
                />
              </Form.Item>
            )}
          </Space>
        </Form.Item>
      )}
      <Form.Item
        label="Project"
        htmlFor="launch-project"
        {...f(
          "project",
          owner
            ? projects === null
              ? `Looking up ${owner}'s projects…`
              : projects.length
                ? `The projects of ${owner}; their resource groups are offered in step 2.`
                : `${owner} belongs to no project (or is not a user).`
            : "The session counts against this project's resources. Default: your first project by name.",
        )}
      >
        <Select
          id="launch-project"
          aria-label="Project"
          value={form.project}
          loading={projects === null}
          options={projectOptions}
          onChange={(p: string) => setForm({ project: p })}
          style={{ maxWidth: 400 }}
        />
      </Form.Item>
    </Form>
  );
}
