// Why a PENDING session waits and where it is in its group's queue (SessionOut.queue_position,
// or status_data.scheduler.position; the reason in status_data.scheduler.message).
import { describeReason } from "./reasons";

interface Waiting {
  status: string;
  status_info?: string;
  status_data?: Record<string, unknown>;
  queue_position?: number | null;
}

export function queueInfo(s: Waiting): { position: number | null; reason: string | null } {
  if (s.status !== "PENDING") return { position: null, reason: null };
  const scheduler = (s.status_data?.scheduler ?? {}) as { message?: unknown; position?: unknown };
  const raw = s.queue_position ?? scheduler.position;
  const position = typeof raw === "number" && raw > 0 ? raw : null;
  const message = typeof scheduler.message === "string" && scheduler.message ? scheduler.message : null;
  return { position, reason: message ?? (s.status_info ? describeReason(s.status_info) : null) };
}
