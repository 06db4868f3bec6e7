// Human sentences for the short status reasons (status_info) the manager records.
const REASONS: Record<string, string> = {
  created: "Created; waiting for the scheduler.",
  "no-available-resources": "Waiting: no agent has enough free resources right now.",
  "waiting-for-start-time": "Waiting for its start time; it will not run before then.",
  scheduled: "An agent was chosen.",
  preparing: "The agent is preparing the kernel.",
  creating: "The container is being created.",
  started: "Started and running.",
  "user-requested": "Terminated on request.",
  "force-terminated": "Force-terminated: killed at once.",
  "task-finished": "The batch command finished successfully.",
  "task-failed": "The batch command failed.",
  "task-timeout": "The batch command ran past its timeout.",
  "failed-to-start": "The kernel could not be started.",
  "self-terminated": "The kernel exited on its own.",
  "kernel-died": "The kernel's container exited unexpectedly.",
  "kernel-lost": "The agent no longer has this kernel.",
  "agent-lost": "The agent stopped sending heartbeats.",
  "agent-unreachable": "The agent could not be reached; the session will be retried.",
  "stuck-in-transition": "No progress in a transitional status; failed by the watchdog.",
  "idle-timeout": "Reclaimed by an idle check: no traffic with the session for its idle timeout.",
  "idle-session-lifetime": "Reclaimed by an idle check: it reached its maximum lifetime.",
  "idle-utilization": "Reclaimed by an idle check: its utilization stayed below the thresholds.",
};

export function describeReason(info: string): string {
  return REASONS[info] ?? info;
}
