// Step 2: environment (image + version, or a manual image name), environment variables and
// resources (ResourcePanel: group, preset, sliders, sessions, agent, cluster).
import { DeleteOutlined, PlusOutlined } from "@ant-design/icons";
import {
  Button,
  Col,
  Divider,
  Form,
  Input,
  InputNumber,
  Row,
  Select,
  Switch,
  Table,
  Typography,
} from "antd";
import { customizedName } from "../commits/commit";
import CustomizedImages, { CustomizedTag } from "../commits/CustomizedImages";
import { findImage, type AgentInfo, type ImageInfo } from "./form";
import { fieldStatus, type StepProps } from "./fields";
import ResourcePanel from "./ResourcePanel";
import type { LaunchScope } from "./useLaunchScope";

interface Props extends StepProps {
  images: ImageInfo[];
  agents: AgentInfo[];
  scope: LaunchScope;
  narrow?: boolean;
  /** A customized image was removed: reload the list. */
  onImagesChanged?: () => void;
}

/** The Environment select's value of a customized image (each is an entry of its own). */
const CUSTOM = "customized:";

export default function StepEnvironment(props: Props) {
  const { form, setForm, errors, warnings, images, agents, scope, narrow, onImagesChanged } = props;
  const f = (key: string, hint?: React.ReactNode) => fieldStatus(key, errors, warnings, hint);
  const current = findImage(images, form.image);
  const currentName = current ? customizedName(current) : null;
  const plain = images.filter((i) => customizedName(i) === null);
  const customized = images.filter((i) => customizedName(i) !== null);
  const names = [...new Set(plain.map((i) => i.display_name))].sort();
  const versions = currentName ? [current!] : plain.filter((i) => i.display_name === current?.display_name);

  const setEnv = (i: number, patch: Partial<{ name: string; value: string }>) =>
    setForm({ env: form.env.map((row, j) => (j === i ? { ...row, ...patch } : row)) });

  return (
    <Form layout="vertical" onSubmitCapture={(e) => e.preventDefault()}>
      <Typography.Title level={5} style={{ marginTop: 0 }}>
        Environment
      </Typography.Title>
      <Row gutter={16}>
        <Col span={14}>
          <Form.Item label="Environment" htmlFor="launch-environment" {...f("image")}>
            <Select
              id="launch-environment"
              showSearch
              value={current ? (currentName ? CUSTOM + current.ref : current.display_name) : undefined}
              placeholder="Search environments"
              disabled={!!form.manualImage.trim()}
              onChange={(name: string) => {
                if (name.startsWith(CUSTOM)) return setForm({ image: name.slice(CUSTOM.length) });
                const pick = plain.filter((i) => i.display_name === name);
                const newest = pick[pick.length - 1];
                if (newest) setForm({ image: newest.ref });
              }}
              options={[
                {
                  label: "Environments",
                  options: names.map((n) => ({ value: n, label: n })),
                },
                ...(customized.length
                  ? [
                      {
                        label: "Customized images",
                        options: customized.map((i) => ({
                          value: CUSTOM + i.ref,
                          label: (
                            <span data-testid="customized-option">
                              <CustomizedTag name={customizedName(i) ?? ""} />
                              <Typography.Text type="secondary">{i.display_name}</Typography.Text>
                            </span>
                          ),
                        })),
                      },
                    ]
                  : []),
              ]}
              notFoundContent="No environment matches"
            />
          </Form.Item>
        </Col>
        <Col span={10}>
          <Form.Item label="Version" htmlFor="launch-version">
            <Select
              id="launch-version"
              value={current?.ref}
              disabled={!current || !!form.manualImage.trim()}
              onChange={(ref: string) => setForm({ image: ref })}
              options={versions.map((i) => ({ value: i.ref, label: `${i.version} (${i.ref})` }))}
            />
          </Form.Item>
        </Col>
      </Row>
      {current && currentName && (
        <Form.Item label="Customized image" data-testid="current-customized">
          <CustomizedTag name={currentName} />
          <Typography.Text code copyable style={{ overflowWrap: "anywhere" }}>
            {current.ref}
          </Typography.Text>
        </Form.Item>
      )}
      <CustomizedImages
        images={images}
        current={form.image}
        onPick={(ref) => setForm({ image: ref, manualImage: "" })}
        onRemoved={(ref) => {
          if (form.image === ref) setForm({ image: "" });
          onImagesChanged?.();
        }}
      />
      <Form.Item
        label="Image name"
        htmlFor="launch-manual-image"
        help="Optional: type an image reference to use instead of the selection above."
      >
        <Input
          id="launch-manual-image"
          value={form.manualImage}
          placeholder={current?.ref ?? "e.g. berth/python:3.11"}
          onChange={(e) => setForm({ manualImage: e.target.value })}
          allowClear
        />
      </Form.Item>
      <Form.Item label="Environment variables" style={{ marginBottom: 8 }}>
        {form.env.length > 0 && (
          <Table
            size="small"
            pagination={false}
            rowKey={(_, i) => String(i)}
            dataSource={form.env.map((row, i) => ({ ...row, i }))}
            columns={[
              {
                title: "Name",
                key: "name",
                render: (_, row) => (
                  <Form.Item style={{ marginBottom: 0 }} {...f(`environ.${row.i}.name`)}>
                    <Input
                      aria-label={`Variable name ${row.i + 1}`}
                      value={row.name}
                      placeholder="NAME"
                      onChange={(e) => setEnv(row.i, { name: e.target.value })}
                    />
                  </Form.Item>
                ),
              },
              {
                title: "Value",
                key: "value",
                render: (_, row) => (
                  <Form.Item style={{ marginBottom: 0 }} {...f(`environ.${row.i}.value`)}>
                    <Input
                      aria-label={`Variable value ${row.i + 1}`}
                      value={row.value}
                      placeholder="value"
                      onChange={(e) => setEnv(row.i, { value: e.target.value })}
                    />
                  </Form.Item>
                ),
              },
              {
                title: "",
                key: "remove",
                width: 48,
                render: (_, row) => (
                  <Button
                    type="text"
                    danger
                    icon={<DeleteOutlined />}
                    aria-label={`Remove variable ${row.i + 1}`}
                    onClick={() => setForm({ env: form.env.filter((_, j) => j !== row.i) })}
                  />
                ),
              },
            ]}
          />
        )}
        <Button
          icon={<PlusOutlined />}
          style={{ marginTop: 8 }}
          onClick={() => setForm({ env: [...form.env, { name: "", value: "" }] })}
        >
          Add variable
        </Button>
      </Form.Item>

      <Divider style={{ margin: "12px 0" }} />
      <Typography.Title level={5} style={{ marginTop: 0 }}>
        Resources
      </Typography.Title>
      <ResourcePanel
        form={form}
        setForm={setForm}
        errors={errors}
        warnings={warnings}
        images={images}
        agents={agents}
        scope={scope}
        narrow={narrow}
      />
      <Form.Item
        label="HPC: automatic thread count"
        htmlFor="launch-threads-auto"
        help={
          form.threadsAuto
            ? "OMP_NUM_THREADS and OPENBLAS_NUM_THREADS follow the CPU cores. Switch off to set them (e.g. 1 or 2)."
            : undefined
        }
      >
        <Switch
          id="launch-threads-auto"
          checked={form.threadsAuto}
          onChange={(v) =>
            setForm(
              v
                ? { threadsAuto: true }
                : {
                    threadsAuto: false,
                    omp: Math.max(1, Math.floor(form.cpu ?? 1)),
                    openblas: Math.max(1, Math.floor(form.cpu ?? 1)),
                  },
            )
          }
        />
      </Form.Item>
      {!form.threadsAuto && (
        <Row gutter={16}>
          <Col span={12}>
            <Form.Item label="OMP_NUM_THREADS" htmlFor="launch-omp" {...f("threads.omp", "1 to 1000")}>
              <InputNumber
                id="launch-omp"
                value={form.omp}
                precision={0}
                onChange={(v) => setForm({ omp: v === null ? null : Number(v) })}
                style={{ width: "100%" }}
              />
            </Form.Item>
          </Col>
          <Col span={12}>
            <Form.Item
              label="OPENBLAS_NUM_THREADS"
              htmlFor="launch-openblas"
              {...f("threads.openblas", "1 to 1000")}
            >
              <InputNumber
                id="launch-openblas"
                value={form.openblas}
                precision={0}
                onChange={(v) => setForm({ openblas: v === null ? null : Number(v) })}
                style={{ width: "100%" }}
              />
            </Form.Item>
          </Col>
        </Row>
      )}
    </Form>
  );
}
