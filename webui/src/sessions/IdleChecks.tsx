import { ExclamationCircleOutlined, QuestionCircleOutlined } from "@ant-design/icons";
import { Space, Tooltip, Typography } from "antd";
import { formatSeconds } from "../format";
import type { IdleCheck, IdleInfo } from "../types";
import { useNow } from "../useNow";
import {
  CHECK_HELP,
  CHECK_LABEL,
  checkView,
  COLOR,
  combineText,
  phaseText,
  resourceLine,
} from "./idle";

interface Props {
  idle: IdleInfo;
  /** When (browser time, ms) the session holding `idle` was loaded: the deadlines count down
   * from there, whatever the two clocks say. */
  loadedAt: number;
}

/** The "Idle Checks" of a RUNNING session: each check's remaining time, coloured red under an
 * hour and orange under four; the utilization check's tooltip gives each resource's average
 * against its threshold. */
export default function IdleChecks({ idle, loadedAt }: Props) {
  const now = useNow(1000);
  const elapsed = (now - loadedAt) / 1000;
  return (
    <Space direction="vertical" size={2} data-testid="idle-checks" style={{ width: "100%" }}>
      {idle.checks.map((c) => (
        <CheckRow key={c.check} check={c} elapsed={elapsed} idle={idle} />
      ))}
    </Space>
  );
}

function CheckRow({ check, elapsed, idle }: { check: IdleCheck; elapsed: number; idle: IdleInfo }) {
  const view = checkView(check, elapsed);
  const color = view.urgency ? COLOR[view.urgency] : undefined;
  const value = (
    <span
      className="idle-remaining"
      data-testid={`idle-remaining-${check.check}`}
      data-state={view.state}
      data-urgency={view.urgency ?? ""}
      style={{ color, fontWeight: view.urgency ? 600 : undefined, whiteSpace: "nowrap" }}
    >
      {view.text}
    </span>
  );
  const phase = check.check === "utilization" && view.state !== "off" ? phaseText(check) : null;
  return (
    <div className="idle-check" data-testid={`idle-check-${check.check}`}>
      <span className="idle-check-label">
        {CHECK_LABEL[check.check]}{" "}
        <Tooltip title={helpText(check)}>
          <QuestionCircleOutlined style={{ color: COLOR.grey }} aria-label={`About ${CHECK_LABEL[check.check]}`} />
        </Tooltip>
      </span>
      <span className="idle-check-value">
        {check.check === "utilization" && view.state !== "off" ? (
          <Tooltip title={<UtilizationTip idle={idle} />} color="#fff" trigger={["hover", "click"]}>
            <span data-testid="idle-utilization-value" style={{ cursor: "help", borderBottom: "1px dotted #bfbfbf" }}>
              {value}
            </span>
          </Tooltip>
        ) : (
          value
        )}
        {view.state === "off" && (
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {" "}
            off{view.reason ? ` (${view.reason})` : ""}
          </Typography.Text>
        )}
        {phase && (
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {" "}
            {phase}
          </Typography.Text>
        )}
        {check.warn && view.state === "counting" && (
          <Tooltip title="A warning was sent: it will be terminated soon unless used">
            <ExclamationCircleOutlined style={{ color: COLOR.red, marginLeft: 6 }} data-testid={`idle-warn-${check.check}`} />
          </Tooltip>
        )}
      </span>
    </div>
  );
}

function helpText(check: IdleCheck): string {
  const limit = check.limit ? ` (${check.check === "utilization" ? "window" : "set to"} ${formatSeconds(check.limit)})` : "";
  return `${CHECK_HELP[check.check]}${limit}`;
}

/** The utilization check's tooltip: "CPU: 12% / 5%" per resource, yellow near the threshold,
 * red below it, grey without data. */
function UtilizationTip({ idle }: { idle: IdleInfo }) {
  const rule = combineText(idle.combine);
  return (
    <div data-testid="idle-utilization-tooltip" style={{ color: "rgba(0, 0, 0, 0.88)" }}>
      <div style={{ marginBottom: 4 }}>Average utilization / threshold</div>
      {idle.utilization.length === 0 && <div>No resource is checked.</div>}
      {idle.utilization.map((r) => {
        const line = resourceLine(r);
        return (
          <div
            key={r.resource}
            data-testid={`idle-resource-${r.resource}`}
            data-level={r.average === null ? "none" : r.level ?? ""}
            style={{ color: line.color ?? undefined, fontWeight: line.color && line.color !== COLOR.grey ? 600 : undefined }}
          >
            {line.text}
            {line.note && <span style={{ opacity: 0.75, fontWeight: 400 }}> ({line.note})</span>}
          </div>
        );
      })}
      {rule && <div style={{ marginTop: 4, opacity: 0.85 }}>{rule}</div>}
      {idle.grace_period ? (
        <div style={{ opacity: 0.85 }}>Grace period: {formatSeconds(idle.grace_period)} after the start.</div>
      ) : null}
    </div>
  );
}
