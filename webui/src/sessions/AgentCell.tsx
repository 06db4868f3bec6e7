import { Space, Tag, Tooltip, Typography } from "antd";
import type { Session } from "../types";

/** What a LOST agent means for the user's session, shown on hover. */
export const AGENT_LOST_HELP =
  "Berth has not heard from this session's agent for a while (it may be down, frozen or cut " +
  "off). The session is kept: it may still be running, and it resumes when the agent comes " +
  "back. Until then its apps, terminal and logs may not answer.";

/** A warning tag for a session whose agent is LOST; nothing otherwise. */
export function AgentLostTag({ session }: { session: Pick<Session, "agent_status"> }) {
  if (session.agent_status !== "LOST") return null;
  return (
    <Tooltip title={AGENT_LOST_HELP}>
      <Tag color="warning" style={{ marginInlineEnd: 0 }}>
        agent lost
      </Tag>
    </Tooltip>
  );
}

/** The session's agent id, with the "agent lost" tag when it is LOST. */
export function AgentCell({ session }: { session: Pick<Session, "agent_id" | "agent_status"> }) {
  if (!session.agent_id) return <Typography.Text type="secondary">-</Typography.Text>;
  return (
    <Space size={4} wrap>
      <span>{session.agent_id}</span>
      <AgentLostTag session={session} />
    </Space>
  );
}
