import { Button, Form, Input, Space } from "antd";

interface Props {
  value: string;
  error?: string;
  busy: boolean;
  onChange: (value: string) => void;
  onOpen: () => void;
  onCancel: () => void;
}

/** TensorBoard asks for its log directory before it opens. */
export default function LogdirForm({ value, error, busy, onChange, onOpen, onCancel }: Props) {
  return (
    <Form layout="vertical" component="div" className="app-logdir" data-testid="tensorboard-logdir">
      <Form.Item
        label="TensorBoard log directory"
        htmlFor="app-logdir"
        validateStatus={error ? "error" : undefined}
        help={error ?? "Where your training writes its summaries (inside the container)"}
      >
        <Input
          id="app-logdir"
          autoFocus
          value={value}
          onChange={(e) => onChange(e.target.value)}
          onPressEnter={onOpen}
          disabled={busy}
        />
      </Form.Item>
      <Space>
        <Button type="primary" loading={busy} onClick={onOpen}>
          Open TensorBoard
        </Button>
        <Button onClick={onCancel} disabled={busy}>
          Cancel
        </Button>
      </Space>
    </Form>
  );
}
