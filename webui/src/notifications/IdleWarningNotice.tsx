import { Typography } from "antd";
import { formatTime } from "../format";
import type { IdleWarningEvent } from "../types";
import { useNow } from "../useNow";
import { warningText } from "./idleWarning";

/** The body of an idle warning: the time left, counting down, and what to do. */
export default function IdleWarningNotice({ event, receivedAt }: { event: IdleWarningEvent; receivedAt: number }) {
  const now = useNow(1000);
  return (
    <div data-testid={`idle-warning-${event.name}`} data-check={event.check}>
      <div>{warningText(event, (now - receivedAt) / 1000)}</div>
      <Typography.Text type="secondary" style={{ fontSize: 12 }}>
        Deadline {formatTime(event.deadline)}
      </Typography.Text>
    </div>
  );
}
