// Step 2's resources: resource group, preset (switching to "custom" when a value is edited),
// CPU / memory / shared memory sliders from the image's minimum to the largest agent's capacity
// with a "remaining" mark, the AI accelerator (when the group offers one: AcceleratorField), the
// number of sessions, the agent ("auto" or one, with its free resources) and the cluster mode
// and size. Waiting is a warning here; hard limits are errors.
import { Col, Form, InputNumber, Radio, Row, Select, Slider, Space, Tag, Tooltip, Typography } from "antd";
import type { SliderMarks } from "antd/es/slider";
import { formatBytes, formatCpu } from "../format";
import AcceleratorField from "./AcceleratorField";
import { fieldStatus, type StepProps } from "./fields";
import { findImage, imageRef, sizeBytes, type AgentInfo, type ImageInfo, type LaunchForm, type SizeUnit } from "./form";
import {
  acceleratorText,
  CUSTOM,
  isShares,
  presetLabel,
  presetsFor,
  presetValues,
  remainingMark,
  resourceView,
  scopeName,
  slotPlugin,
  type AcceleratorSlot,
  type CheckAgent,
  type ResourceView,
} from "./resources";
import type { LaunchScope } from "./useLaunchScope";

interface Props extends StepProps {
  images: ImageInfo[];
  agents: AgentInfo[];
  scope: LaunchScope;
  narrow?: boolean;
}

const GIB = 2 ** 30;
const SIZE_UNITS: { value: SizeUnit; label: string }[] = [
  { value: "m", label: "MiB" },
  { value: "g", label: "GiB" },
];

/** Room at the ends for the marks' labels ("512 MiB"). */
const SLIDER_STYLE = { marginInline: 28 };

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Marks for a slider: its ends and, inside them, where what is remaining now runs out. */
export function sliderMarks(
  min: number,
  max: number,
  remaining: number | null,
  show: (n: number) => string,
  testId: string,
): NonNullable<SliderMarks> {
  const end = { whiteSpace: "nowrap" as const };
  const marks: NonNullable<SliderMarks> = {
    [min]: { style: end, label: <span data-testid={`${testId}-min`}>{show(min)}</span> },
    [max]: { style: end, label: <span data-testid={`${testId}-max`}>{show(max)}</span> },
  };
  if (remaining !== null && remaining >= min && remaining < max) {
    marks[remaining] = {
      style: { color: "#d48806", whiteSpace: "nowrap" },
      label: (
        <Tooltip title="What is remaining now, per session; more than this waits in the queue">
          <span data-testid={`${testId}-remaining`}>▲ {show(remaining)} left</span>
        </Tooltip>
      ),
    };
  }
  return marks;
}

/** ", 1 of 2 mock-gpu devices" per whole-device slot offered: what an agent has free. */
function deviceText(a: CheckAgent, offered: AcceleratorSlot[]): string {
  return offered
    .filter((s) => !isShares(s.name) && a.capacity[s.name] !== undefined)
    .map((s) => `, ${Number(a.free[s.name] ?? 0)} of ${Number(a.capacity[s.name])} ${slotPlugin(s.name)} devices`)
    .join("");
}

function view(scope: LaunchScope, agents: AgentInfo[], form: LaunchForm): ResourceView {
  return resourceView(scope.check, agents, form.resourceGroup || "default");
}

export default function ResourcePanel({ form, setForm, errors, warnings, images, agents, scope, narrow }: Props) {
  const f = (key: string, hint?: React.ReactNode) => fieldStatus(key, errors, warnings, hint);
  const v = view(scope, agents, form);
  const shown = findImage(images, imageRef(form));
  const minCpu = Number(shown?.min_slots.cpu ?? 0) || 0.5;
  const minMem = Number(shown?.min_slots.mem ?? 0) || 256 * 2 ** 20;
  const sessions = Math.max(1, form.count ?? 1);
  const kernels = Math.max(1, form.clusterSize ?? 1);
  /** An edit of a resource value: the preset no longer describes the form. */
  const edit = (patch: Partial<LaunchForm>) => setForm({ ...patch, preset: CUSTOM });

  const groups = scope.groups ?? [];
  const groupOptions = (groups.includes(form.resourceGroup) ? groups : [form.resourceGroup, ...groups]).map((g) => ({
    value: g,
    label: g,
  }));
  const presets = presetsFor(scope.presets, form.resourceGroup);
  const allocatable = new Map((scope.check?.presets ?? []).map((p) => [p.id, p.allocatable]));
  const presetValue = presets.some((p) => p.id === form.preset) ? form.preset : CUSTOM;
  const offered = scope.check?.accelerators ?? [];

  // CPU: cores; memory and shared memory: GiB on the sliders.
  const cpuMax = Math.max(v.maxPerContainer.cpu ?? Math.max(8, form.cpu ?? 0), minCpu);
  const cpuLeft = remainingMark(v, "cpu", sessions, kernels);
  const memMaxGiB = round(Math.max(v.maxPerContainer.mem ?? 16 * GIB, minMem) / GIB);
  const memLeft = remainingMark(v, "mem", sessions, kernels);
  const memBytes = sizeBytes(form.memValue, form.memUnit);
  const memGiB = memBytes !== null ? round(memBytes / GIB, 3) : null;
  const shmemBytes = form.shmemAuto ? 64 * 2 ** 20 : sizeBytes(form.shmemValue, form.shmemUnit);
  const shmemMaxGiB = round(Math.max(memBytes ?? GIB, 128 * 2 ** 20) / GIB, 3);

  const agentOptions = [
    { value: "", label: "Auto: the scheduler picks one" },
    ...v.agents.map((a) => ({
      value: a.id,
      label: (
        <span data-testid="agent-option">
          {a.id}{" "}
          <Typography.Text type="secondary">
            — {formatCpu(a.free.cpu)} of {formatCpu(a.capacity.cpu)}, {formatBytes(a.free.mem)} of{" "}
            {formatBytes(a.capacity.mem)}
            {deviceText(a, offered)} free
          </Typography.Text>
        </span>
      ),
    })),
  ];
  if (form.agent && !v.agents.some((a) => a.id === form.agent)) {
    agentOptions.push({ value: form.agent, label: <span>{form.agent} (not available now)</span> });
  }

  // "4 cores, 4 GiB (the resource group 'default')": the least left of each slot, by scope.
  const byScope = new Map<string, string[]>();
  for (const [slot, r] of Object.entries(v.remaining)) {
    if (slot !== "cpu" && slot !== "mem") continue;
    const where = scopeName(r.scope, r.name);
    byScope.set(where, [...(byScope.get(where) ?? []), slot === "cpu" ? formatCpu(String(round(r.amount))) : formatBytes(r.amount)]);
  }
  const remainingText = [...byScope].map(([where, amounts]) => `${amounts.join(", ")} (${where})`);

  const half = narrow ? 24 : 12;
  return (
    <>
      <Row gutter={16}>
        <Col span={half}>
          <Form.Item
            label="Resource group"
            htmlFor="launch-group"
            {...f("resource_group", "The agents the session may run on.")}
          >
            <Select
              id="launch-group"
              aria-label="Resource group"
              value={form.resourceGroup}
              loading={scope.groups === null}
              options={groupOptions}
              onChange={(g: string) =>
                setForm({
                  resourceGroup: g,
                  agent: "",
                  preset: scope.presets.some((p) => p.id === form.preset && p.resource_group === null)
                    ? form.preset
                    : CUSTOM,
                })
              }
              notFoundContent="No resource group you may use"
            />
          </Form.Item>
        </Col>
        <Col span={half}>
          <Form.Item
            label="Preset"
            htmlFor="launch-preset"
            {...f("preset", presets.length ? "A named set of resources; editing a value makes it custom." : "No presets: set the values below.")}
          >
            <Select
              id="launch-preset"
              aria-label="Preset"
              data-testid="launch-preset"
              value={presetValue}
              onChange={(id: string) => {
                const p = presets.find((x) => x.id === id);
                setForm(p ? { preset: p.id, ...presetValues(p.slots) } : { preset: CUSTOM });
              }}
              options={[
                ...presets.map((p) => ({
                  value: p.id,
                  title: p.name,
                  label: (
                    <Space size={4} wrap={false}>
                      <span>{p.name}</span>
                      <Typography.Text type="secondary">{presetLabel(p.slots)}</Typography.Text>
                      {allocatable.get(p.id) === false && (
                        <Tag color="orange" style={{ marginInlineEnd: 0 }}>
                          waits
                        </Tag>
                      )}
                      {p.resource_group && <Tag style={{ marginInlineEnd: 0 }}>{p.resource_group}</Tag>}
                    </Space>
                  ),
                })),
                { value: CUSTOM, title: "Custom", label: "Custom" },
              ]}
            />
          </Form.Item>
        </Col>
      </Row>
      <Typography.Paragraph type="secondary" style={{ marginBottom: 8 }} data-testid="launch-limits">
        {shown
          ? `Image minimum: ${formatCpu(shown.min_slots.cpu ?? "0")}, ${formatBytes(shown.min_slots.mem ?? "0")}. `
          : ""}
        {v.maxPerContainer.cpu !== undefined
          ? `Largest agent: ${formatCpu(String(v.maxPerContainer.cpu))}, ${formatBytes(v.maxPerContainer.mem)}` +
            offered
              .filter((s) => !isShares(s.name) && v.maxPerContainer[s.name] !== undefined)
              .map((s) => `, ${acceleratorText(s.name, v.maxPerContainer[s.name])}`)
              .join("") +
            ". "
          : ""}
        {remainingText.length ? `Remaining now: ${remainingText.join("; ")}. ` : ""}
        {v.agents.length === 0
          ? "No agent of this group is alive: the session will wait until one is."
          : v.agents
              .map(
                (a) =>
                  `${a.id}: ${formatCpu(a.free.cpu)} of ${formatCpu(a.capacity.cpu)}, ` +
                  `${formatBytes(a.free.mem)} of ${formatBytes(a.capacity.mem)}${deviceText(a, offered)} free`,
              )
              .join("; ")}
      </Typography.Paragraph>

      <Form.Item label="CPU (cores)" htmlFor="launch-cpu" {...f("resources.cpu")}>
        <Row gutter={12} align="middle">
          <Col flex={narrow ? "1 1 100%" : "auto"}>
            <Slider
              aria-label="CPU slider"
              style={SLIDER_STYLE}
              min={minCpu}
              max={cpuMax}
              step={0.5}
              value={form.cpu ?? minCpu}
              marks={sliderMarks(minCpu, cpuMax, cpuLeft === null ? null : round(cpuLeft), (n) => String(round(n)), "cpu")}
              onChange={(n: number) => edit({ cpu: n })}
              tooltip={{ formatter: (n) => formatCpu(String(n)) }}
            />
          </Col>
          <Col flex={narrow ? "1 1 100%" : "120px"}>
            <InputNumber
              id="launch-cpu"
              value={form.cpu}
              min={0.01}
              step={0.5}
              onChange={(n) => edit({ cpu: n === null ? null : Number(n) })}
              style={{ width: "100%" }}
            />
          </Col>
        </Row>
      </Form.Item>
      <Form.Item label="Memory" htmlFor="launch-mem" {...f("resources.mem")}>
        <Row gutter={12} align="middle">
          <Col flex={narrow ? "1 1 100%" : "auto"}>
            <Slider
              aria-label="Memory slider"
              style={SLIDER_STYLE}
              min={round(minMem / GIB, 3)}
              max={memMaxGiB}
              step={0.125}
              value={memGiB ?? round(minMem / GIB, 3)}
              marks={sliderMarks(
                round(minMem / GIB, 3),
                memMaxGiB,
                memLeft === null ? null : round(memLeft / GIB, 3),
                (n) => formatBytes(n * GIB),
                "mem",
              )}
              onChange={(n: number) => edit({ memValue: n, memUnit: "g" })}
              tooltip={{ formatter: (n) => formatBytes((n ?? 0) * GIB) }}
            />
          </Col>
          <Col flex={narrow ? "1 1 100%" : "200px"}>
            <Space.Compact style={{ width: "100%" }}>
              <InputNumber
                id="launch-mem"
                value={form.memValue}
                min={0}
                onChange={(n) => edit({ memValue: n === null ? null : Number(n) })}
                style={{ width: "100%" }}
              />
              <Select
                aria-label="Memory unit"
                value={form.memUnit}
                options={SIZE_UNITS}
                onChange={(u) => edit({ memUnit: u })}
                style={{ width: 90 }}
              />
            </Space.Compact>
          </Col>
        </Row>
      </Form.Item>
      <Form.Item
        label="Shared memory"
        htmlFor="launch-shmem"
        {...f("resources.shmem", "Part of the memory (/dev/shm); auto: 64 MiB.")}
      >
        <Row gutter={12} align="middle">
          <Col flex={narrow ? "1 1 100%" : "auto"}>
            <Slider
              aria-label="Shared memory slider"
              style={SLIDER_STYLE}
              disabled={form.shmemAuto}
              min={0.0625}
              max={shmemMaxGiB}
              step={0.0625}
              value={shmemBytes !== null ? round(shmemBytes / GIB, 4) : 0.0625}
              marks={sliderMarks(0.0625, shmemMaxGiB, null, (n) => formatBytes(n * GIB), "shmem")}
              onChange={(n: number) => edit({ shmemAuto: false, shmemValue: round(n * 1024), shmemUnit: "m" })}
              tooltip={{ formatter: (n) => formatBytes((n ?? 0) * GIB) }}
            />
          </Col>
          <Col flex={narrow ? "1 1 100%" : "290px"}>
            <Space.Compact style={{ width: "100%" }}>
              <Select
                aria-label="Shared memory mode"
                value={form.shmemAuto ? "auto" : "custom"}
                onChange={(m) => edit({ shmemAuto: m === "auto" })}
                options={[
                  { value: "auto", label: "auto" },
                  { value: "custom", label: "set" },
                ]}
                style={{ width: 90 }}
              />
              <InputNumber
                id="launch-shmem"
                value={form.shmemAuto ? 64 : form.shmemValue}
                disabled={form.shmemAuto}
                min={0}
                onChange={(n) => edit({ shmemValue: n === null ? null : Number(n) })}
                style={{ width: "100%" }}
              />
              <Select
                aria-label="Shared memory unit"
                value={form.shmemAuto ? "m" : form.shmemUnit}
                disabled={form.shmemAuto}
                options={SIZE_UNITS}
                onChange={(u) => edit({ shmemUnit: u })}
                style={{ width: 90 }}
              />
            </Space.Compact>
          </Col>
        </Row>
      </Form.Item>

      <AcceleratorField
        form={form}
        edit={edit}
        errors={errors}
        warnings={warnings}
        offered={offered}
        loaded={scope.check !== null}
        view={v}
        sessions={sessions}
        kernels={kernels}
        narrow={narrow}
      />

      <Row gutter={16}>
        <Col span={half}>
          <Form.Item
            label="Sessions"
            htmlFor="launch-count"
            {...f("count", "More than 1 creates identical sessions; those that cannot start yet wait.")}
          >
            <InputNumber
              id="launch-count"
              value={form.count}
              min={1}
              max={20}
              precision={0}
              onChange={(n) => setForm({ count: n === null ? null : Number(n) })}
              style={{ width: "100%" }}
            />
          </Form.Item>
        </Col>
        <Col span={half}>
          <Form.Item
            label="Agent"
            htmlFor="launch-agent"
            {...f("agent", form.agent ? "Only this agent: the session waits for it." : "Any agent of the group that fits.")}
          >
            <Select
              id="launch-agent"
              aria-label="Agent"
              value={form.agent}
              options={agentOptions}
              onChange={(a: string) => setForm({ agent: a })}
              popupMatchSelectWidth={false}
            />
          </Form.Item>
        </Col>
        <Col span={half}>
          <Form.Item label="Cluster mode" {...f("cluster_mode")}>
            <Radio.Group
              value={form.clusterMode}
              onChange={(e) => setForm({ clusterMode: e.target.value as LaunchForm["clusterMode"] })}
              optionType="button"
              aria-label="Cluster mode"
            >
              <Radio.Button value="single-node">Single node</Radio.Button>
              <Tooltip title="Multi-node clusters are coming with scale-out">
                <span data-testid="multi-node">
                  <Radio.Button value="multi-node" disabled>
                    Multi-node
                  </Radio.Button>
                </span>
              </Tooltip>
            </Radio.Group>
          </Form.Item>
        </Col>
        <Col span={half}>
          <Form.Item
            label="Cluster size"
            htmlFor="launch-cluster-size"
            {...f(
              "cluster_size",
              kernels > 1
                ? `${kernels} containers (main1, sub1…) on one agent, each with the resources above.`
                : "1: a single container; more: a cluster on one agent.",
            )}
          >
            <InputNumber
              id="launch-cluster-size"
              value={form.clusterSize}
              min={1}
              max={64}
              precision={0}
              onChange={(n) => setForm({ clusterSize: n === null ? null : Number(n) })}
              style={{ width: "100%" }}
            />
          </Form.Item>
        </Col>
      </Row>
    </>
  );
}
