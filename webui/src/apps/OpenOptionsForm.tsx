import { QuestionCircleOutlined } from "@ant-design/icons";
import { Checkbox, Form, Input, InputNumber, Space, Tooltip } from "antd";
import { PORT_MAX, PORT_MIN, type OpenErrors, type OpenOptions } from "./openForm";

interface Props {
  value: OpenOptions;
  errors: OpenErrors;
  disabled: boolean;
  onChange: (patch: Partial<OpenOptions>) => void;
}

function Help({ text }: { text: string }) {
  return (
    <Tooltip title={text}>
      <QuestionCircleOutlined style={{ color: "#8c8c8c" }} aria-hidden />
    </Tooltip>
  );
}

/** "Open to public" (with allowed client IPs) and "Try preferred port" under the tiles. */
export default function OpenOptionsForm({ value, errors, disabled, onChange }: Props) {
  return (
    <Form layout="vertical" component="div" disabled={disabled} className="app-options">
      <Form.Item style={{ marginBottom: 8 }}>
        <Checkbox checked={value.public} onChange={(e) => onChange({ public: e.target.checked })}>
          Open to public
        </Checkbox>
        <Help text="Anyone with the URL may use the app (optionally only from the client addresses below); otherwise only your logged-in browser can." />
      </Form.Item>
      {value.public && (
        <Form.Item
          label="Allowed client IPs"
          htmlFor="app-allowed-ips"
          validateStatus={errors.allowed_ips ? "error" : undefined}
          help={errors.allowed_ips ?? "IP addresses or CIDR networks, comma- or space-separated; empty: any client"}
          style={{ marginLeft: 24 }}
        >
          <Input
            id="app-allowed-ips"
            placeholder="e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32"
            value={value.allowedIps}
            onChange={(e) => onChange({ allowedIps: e.target.value })}
          />
        </Form.Item>
      )}
      <Form.Item
        style={{ marginTop: 12, marginBottom: 0 }}
        validateStatus={errors.preferred_port ? "error" : undefined}
        help={errors.preferred_port}
      >
        <Space wrap>
          <span>
            <Checkbox checked={value.tryPort} onChange={(e) => onChange({ tryPort: e.target.checked })}>
              Try preferred port
            </Checkbox>
            <Help text="The proxy uses this port if it is in its pool and free; otherwise it picks another one and says so." />
          </span>
          {value.tryPort && (
            <InputNumber
              aria-label="Preferred port"
              min={PORT_MIN}
              max={PORT_MAX}
              precision={0}
              placeholder="10000"
              value={value.port}
              onChange={(port) => onChange({ port: port ?? null })}
              style={{ width: 120 }}
              status={errors.preferred_port ? "error" : undefined}
            />
          )}
        </Space>
      </Form.Item>
    </Form>
  );
}
