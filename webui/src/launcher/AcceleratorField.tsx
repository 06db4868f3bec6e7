// The launcher's "AI accelerator" row: the type (one option per slot the resource group offers:
// whole devices or a fraction of one device) and the amount per kernel, 0 (none) to what the
// largest agent has, in the slot's step (1, or the group's quantum for shares), with what is
// free and remaining now. Shown only when the group offers accelerator slots, or when the
// form asks for one anyway (a link, a relaunch, another group) so that it can be seen and
// changed. Editing makes the preset "custom" (the caller's `edit`).
import { Col, Form, InputNumber, Row, Select, Slider, Space, Tag, Typography } from "antd";
import { fieldStatus } from "./fields";
import type { LaunchForm, Messages } from "./form";
import {
  acceleratorMax,
  acceleratorRemaining,
  acceleratorStep,
  acceleratorText,
  decimalText,
  isShares,
  roundToStep,
  scopeName,
  type AcceleratorSlot,
  type ResourceView,
} from "./resources";
import { sliderMarks } from "./ResourcePanel";

interface Props {
  form: LaunchForm;
  /** An edit of a resource value (the caller makes the preset custom). */
  edit: (patch: Partial<LaunchForm>) => void;
  errors: Messages;
  warnings: Messages;
  /** The slots the group offers (GET /api/resource-check's accelerators); [] when none. */
  offered: AcceleratorSlot[];
  /** Whether `offered` is known (the check answered); false while loading. */
  loaded?: boolean;
  view: ResourceView;
  sessions: number;
  kernels: number;
  narrow?: boolean;
}

/** "fraction of one NVIDIA GPU (step 0.1)" -> "Fraction of one NVIDIA GPU": the group's step
 * is shown on its own (an agent's description may name another). */
export function slotLabel(slot: AcceleratorSlot): string {
  const text = (slot.description || slot.name).replace(/\s*\(step [\d.]+\)\s*$/, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The selector's short form: without parentheses ("Fraction of one mock GPU"); the list of
 * options has the whole description. */
export function shortSlotLabel(slot: AcceleratorSlot): string {
  return slotLabel(slot).replace(/\s*\([^)]*\)/g, "");
}

/** The slot the field shows: the form's when it names one, else the first offered one that the
 * cluster size allows (whole devices for clusters); null when nothing can be shown. */
export function shownSlot(form: LaunchForm, offered: AcceleratorSlot[], kernels: number): string | null {
  if (form.accelerator) return form.accelerator;
  const usable = offered.filter((s) => kernels < 2 || !isShares(s.name));
  return (usable[0] ?? offered[0])?.name ?? null;
}

/** The amount to keep when the type changes: 0 stays 0; another amount is brought into the new
 * slot's range and step (0.5 of a device -> 1 device; 2 devices -> shares 1). */
export function amountForType(amount: number | null, step: number, max: number | null): number {
  if (!amount || amount <= 0) return 0;
  let next = Math.max(step, roundToStep(amount, step));
  if (max !== null && max >= step) next = Math.min(next, roundToStep(Math.floor(max / step) * step, step));
  return next;
}

export default function AcceleratorField({
  form,
  edit,
  errors,
  warnings,
  offered,
  loaded = true,
  view,
  sessions,
  kernels,
  narrow,
}: Props) {
  const slot = shownSlot(form, offered, kernels);
  if (slot === null) return null;
  const amount = form.acceleratorAmount;
  if (offered.length === 0 && !(form.accelerator && amount)) return null;

  const known = offered.find((s) => s.name === slot);
  const step = acceleratorStep(slot, offered);
  const maxKnown = acceleratorMax(view, slot);
  // The slider's end: what the largest agent has (shares: one device); unknown: the amount.
  const max = Math.max(maxKnown ?? 0, step, amount ?? 0);
  const left = acceleratorRemaining(view, slot, sessions, kernels);
  const free = view.largestFree[slot];
  const key = `resources.${slot}`;
  const shares = isShares(slot);

  const options = offered.map((s) => {
    const blocked = kernels >= 2 && isShares(s.name);
    return {
      value: s.name,
      disabled: blocked,
      title: blocked ? "Cluster sessions (2 or more kernels) use whole devices only" : s.name,
      label: (
        <Space size={4} wrap={Boolean(narrow)} data-testid="accelerator-option">
          <span>{slotLabel(s)}</span>
          {isShares(s.name) && <Typography.Text type="secondary">step {decimalText(Number(s.step))}</Typography.Text>}
          {s.mock && (
            <Tag color="purple" style={{ marginInlineEnd: 0 }}>
              mock
            </Tag>
          )}
          {blocked && <Typography.Text type="secondary">— whole devices only in a cluster</Typography.Text>}
        </Space>
      ),
    };
  });
  if (!known) {
    options.push({
      value: slot,
      disabled: false,
      title: slot,
      label: (
        <Space size={4} wrap={false} data-testid="accelerator-option">
          <span>{slot}</span>
          {loaded && <Typography.Text type="secondary">(not offered here)</Typography.Text>}
        </Space>
      ),
    });
  }

  const setType = (next: string) =>
    edit({ accelerator: next, acceleratorAmount: amountForType(amount, acceleratorStep(next, offered), acceleratorMax(view, next)) });
  const setAmount = (n: number | null) =>
    edit({ accelerator: slot, acceleratorAmount: n === null ? null : roundToStep(n, step) });

  const hint: string[] = [
    shares
      ? `A fraction of one device, in steps of ${decimalText(step)}; 0: none.`
      : "Whole devices; 0: none.",
  ];
  if (free !== undefined && free <= 0) {
    hint.push("None free now on any agent: a session asking for one waits.");
  } else if (free !== undefined) {
    hint.push(
      shares
        ? `Free now: up to ${decimalText(free)} of one device.`
        : `Free now: up to ${decimalText(free)} device${free === 1 ? "" : "s"} on one agent.`,
    );
  }
  const remaining = view.remaining[slot];
  if (left !== null && remaining) {
    hint.push(`Remaining: ${acceleratorText(slot, remaining.amount)} (${scopeName(remaining.scope, remaining.name)}).`);
  }
  if (kernels >= 2 && offered.some((s) => isShares(s.name))) {
    hint.push("A cluster (2 or more kernels) uses whole devices only: each kernel gets its own.");
  }

  return (
    <Form.Item
      label="AI accelerator"
      htmlFor="launch-accelerator"
      data-testid="accelerator-field"
      {...fieldStatus(key, errors, warnings, <span data-testid="accelerator-hint">{hint.join(" ")}</span>)}
    >
      <Row gutter={[12, 8]} align="middle">
        <Col flex={narrow ? "1 1 100%" : "0 1 340px"} style={{ minWidth: 0 }}>
          <Select
            aria-label="Accelerator type"
            data-testid="accelerator-type"
            value={slot}
            options={options}
            onChange={setType}
            labelRender={() =>
              known ? (
                <Space size={4} wrap={false} title={slotLabel(known)}>
                  <span>{shortSlotLabel(known)}</span>
                  {known.mock && (
                    <Tag color="purple" style={{ marginInlineEnd: 0 }}>
                      mock
                    </Tag>
                  )}
                </Space>
              ) : (
                slot
              )
            }
            popupMatchSelectWidth={Boolean(narrow)}
            style={{ width: "100%" }}
          />
        </Col>
        <Col flex={narrow ? "1 1 100%" : "auto"}>
          <Slider
            aria-label="Accelerator slider"
            style={{ marginInline: 28 }}
            min={0}
            max={max}
            step={step}
            value={Math.min(amount ?? 0, max)}
            marks={sliderMarks(
              0,
              max,
              left === null ? null : roundToStep(Math.floor(left / step) * step, step),
              (n) => decimalText(n),
              "accelerator",
            )}
            onChange={(n: number) => setAmount(n)}
            tooltip={{ formatter: (n) => (n ? acceleratorText(slot, n) : "none") }}
          />
        </Col>
        <Col flex={narrow ? "1 1 100%" : "120px"}>
          <InputNumber
            id="launch-accelerator"
            aria-label="Accelerator amount"
            value={amount}
            min={0}
            max={maxKnown ?? undefined}
            step={step}
            onChange={(n) => setAmount(n === null ? null : Number(n))}
            style={{ width: "100%" }}
          />
        </Col>
      </Row>
    </Form.Item>
  );
}
