import { Col, Collapse, Form, InputNumber, Row, Select, Space, Typography } from "antd";
import { idleSummary, THRESHOLD_FIELDS, type IdleFormValues, type IdleSettings } from "./idle";
import { secondsText } from "./shared";

/** The idle-check fields of the resource group dialog (`group`: defaults, with the lifetime and
 * network timeout) and the resource policy dialog (overrides; its lifetime and idle timeout
 * are among its session limits), in a section folded until opened. Its fields mount only
 * then: the dialog's submit reads the idle values from the form's store
 * (getFieldsValue(true)), which holds them either way. */
export default function IdleSettingsFields({ group }: { group: boolean }) {
  return (
    <Collapse
      size="small"
      style={{ margin: "8px 0 16px" }}
      data-testid="idle-settings"
      items={[
        {
          key: "idle",
          label: (
            <span>
              Idle checks{" "}
              <Typography.Text type="secondary">
                {group ? "— lifetime, network idle timeout, utilization, warning" : "— overrides of the group's"}
              </Typography.Text>
            </span>
          ),
          children: <Fields group={group} />,
        },
      ]}
    />
  );
}

function Fields({ group }: { group: boolean }) {
  const mode = Form.useWatch<IdleFormValues["idle_utilization"]>("idle_utilization");
  const unset = group ? "not set: off" : "not set: the group's";
  return (
    <>
      <Typography.Paragraph type="secondary" style={{ marginBottom: 8 }} data-testid="idle-settings-help">
        {group
          ? "Defaults for the sessions in this group; a resource policy may override each. Empty: not set (the check is off); 0 turns a duration off."
          : "Overrides the resource group's idle settings. Empty: the group's; 0 turns a duration off."}
      </Typography.Paragraph>
      <Row gutter={16}>
        {group && (
          <>
            <Minutes name="idle_lifetime_hours" label="Max session lifetime (hours)" placeholder={unset} />
            <Minutes
              name="idle_timeout_minutes"
              label="Network idle timeout (minutes)"
              placeholder={unset}
              extra="Without traffic between the user and the session; batch sessions are exempt."
            />
          </>
        )}
        <Col xs={24} sm={12}>
          <Form.Item name="idle_utilization" label="Utilization check">
            <Select
              aria-label="Utilization check"
              options={[
                ...(group ? [] : [{ value: "inherit", label: "The group's" }]),
                { value: "off", label: "Off" },
                { value: "on", label: "On: thresholds below" },
              ]}
            />
          </Form.Item>
        </Col>
        <Col xs={24} sm={12}>
          <Form.Item name="idle_combine" label="Reclaim when">
            <Select
              aria-label="Reclaim when"
              options={[
                { value: "inherit", label: group ? "Not set: all below (and)" : "The group's" },
                { value: "and", label: "All resources below (and)" },
                { value: "or", label: "Any resource below (or)" },
              ]}
            />
          </Form.Item>
        </Col>
        {mode === "on" &&
          THRESHOLD_FIELDS.map((t) => (
            <Col xs={12} key={t.field}>
              <Form.Item name={t.field} label={`${t.label} %`} rules={[{ type: "number", min: 0.01, max: 100, message: "0.01-100" }]}>
                <InputNumber aria-label={`${t.label} threshold`} min={0.01} max={100} placeholder="ignored" style={{ width: "100%" }} />
              </Form.Item>
            </Col>
          ))}
        <Minutes
          name="idle_window_minutes"
          label="Utilization window (minutes)"
          placeholder="the idle timeout"
          extra="The average spans this long."
        />
        <Minutes
          name="idle_grace_minutes"
          label="Grace period (minutes)"
          placeholder={unset}
          extra="After the start, before the utilization check may act."
        />
        <Minutes
          name="idle_warn_minutes"
          label="Warn before (minutes)"
          placeholder={unset}
          extra="The user gets a warning this long before a check reclaims the session."
        />
      </Row>
    </>
  );
}

function Minutes({ name, label, placeholder, extra }: { name: keyof IdleFormValues; label: string; placeholder: string; extra?: string }) {
  return (
    <Col xs={24} sm={12}>
      <Form.Item name={name} label={label} extra={extra}>
        <InputNumber aria-label={label} min={0} step={1} placeholder={placeholder} style={{ width: "100%" }} />
      </Form.Item>
    </Col>
  );
}

/** The idle settings a group or policy sets, one per line; "none" when it sets none. */
export function IdleCell({ settings, testId }: { settings: IdleSettings; testId: string }) {
  const lines = idleSummary(settings, secondsText);
  return (
    <Space direction="vertical" size={0} data-testid={testId}>
      {lines.length === 0 ? <Typography.Text type="secondary">none</Typography.Text> : lines.map((l) => <span key={l}>{l}</span>)}
    </Space>
  );
}
