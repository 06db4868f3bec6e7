import { elapsedMs, formatDuration } from "../format";
import type { Session } from "../types";
import { useNow } from "../useNow";

/** Elapsed time since the session started (or was created), ticking every second. */
export default function Elapsed({ session }: { session: Session }) {
  const now = useNow(1000);
  return <span className="tabular">{formatDuration(elapsedMs(session, now))}</span>;
}
