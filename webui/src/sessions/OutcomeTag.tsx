import { CheckCircleFilled, CloseCircleFilled, MinusCircleFilled } from "@ant-design/icons";
import { Tag } from "antd";
import { sessionOutcome, outcomeText, type OutcomeInput, type OutcomeKind } from "./outcome";

const LOOK: Record<OutcomeKind, { color: string; icon: JSX.Element }> = {
  success: { color: "success", icon: <CheckCircleFilled /> },
  failure: { color: "error", icon: <CloseCircleFilled /> },
  neutral: { color: "default", icon: <MinusCircleFilled /> },
};

/** A finished session's result at a glance: green Succeeded / red Failed with the exit code;
 * nothing while the session has not ended. */
export default function OutcomeTag({ session }: { session: OutcomeInput }) {
  const outcome = sessionOutcome(session);
  if (!outcome) return null;
  const look = LOOK[outcome.kind];
  return (
    <Tag color={look.color} icon={look.icon} data-testid="outcome" data-outcome={outcome.kind} style={{ marginInlineEnd: 0 }}>
      {outcomeText(outcome)}
    </Tag>
  );
}
