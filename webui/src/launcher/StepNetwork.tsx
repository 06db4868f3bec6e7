// Step 4: preopen ports.
import { Form, Input, Space, Tag, Typography } from "antd";
import { findImage, imageRef, parsePorts, type ImageInfo } from "./form";
import { fieldStatus, type StepProps } from "./fields";

export default function StepNetwork({ form, setForm, errors, warnings, images }: StepProps & { images: ImageInfo[] }) {
  const image = findImage(images, imageRef(form));
  const { ports, error } = parsePorts(form.ports);
  return (
    <Form layout="vertical" onSubmitCapture={(e) => e.preventDefault()}>
      <Form.Item
        label="Preopen ports"
        htmlFor="launch-ports"
        {...fieldStatus(
          "preopen_ports",
          errors,
          warnings,
          "Ports inside the container, opened at start so a server of yours can be reached " +
            "through the app proxy. 1024-65535, separated by commas or spaces; ranges as a:b; " +
            "at most 10.",
        )}
      >
        <Input
          id="launch-ports"
          value={form.ports}
          placeholder="e.g. 8080, 9000:9002"
          onChange={(e) => setForm({ ports: e.target.value })}
          allowClear
        />
      </Form.Item>
      {!error && ports.length > 0 && (
        <Space wrap style={{ marginBottom: 12 }} data-testid="launch-port-tags">
          {ports.map((p) => (
            <Tag key={p}>{p}</Tag>
          ))}
        </Space>
      )}
      <Typography.Paragraph type="secondary">
        Not available: the reserved ports 2200, 6006, 7681, 8888
        {image && image.apps.length > 0
          ? ` and this environment's app ports ${image.apps.map((a) => `${a.container_port} (${a.name})`).join(", ")}`
          : ""}
        .
      </Typography.Paragraph>
    </Form>
  );
}
