// Validation rules the server applies too (src/berth/domain/rules.py); the UI checks first so
// the message appears at once, and shows the server's message when it still refuses.

export const NAME_MIN = 4;
export const NAME_MAX = 64;
const NAME_RE = /^\w[\w.-]*\w$/;

/** The message for a bad session name, or null when the name follows the rules. */
export function sessionNameError(name: string): string | null {
  if (name.length < NAME_MIN || name.length > NAME_MAX) {
    return `must be ${NAME_MIN} to ${NAME_MAX} characters long`;
  }
  if (/\s/.test(name)) return "must not contain spaces";
  // JavaScript's \w is ASCII-only, as the server's re.ASCII rule.
  if (!NAME_RE.test(name)) {
    return (
      "may use only ASCII letters, digits, '_', '-' and '.', and must start and end " +
      "with a letter, digit or '_'"
    );
  }
  return null;
}

// ---- limits (src/berth/domain/limits.py; docs/limits.md) --------------------------------
export const KIB = 1024;
export const ENV_COUNT_MAX = 256;
export const ENV_NAME_MAX = 256;
export const ENV_VALUE_MAX = 32 * KIB; // bytes of UTF-8
export const ENV_TOTAL_MAX = 256 * KIB; // bytes of NAME=VALUE strings, each with '=' and a NUL
export const STARTUP_COMMAND_MAX = 64 * KIB; // bytes of UTF-8
export const TIMEOUT_MAX_SECONDS = 365 * 86400;
export const STARTS_AT_PAST_MAX_MS = 86400 * 1000;
export const STARTS_AT_FUTURE_MAX_MS = 365 * 86400 * 1000;
export const CPU_MAX = 1024;
export const MEM_MAX = 64 * 2 ** 40;
const TIME_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** The message for a bad variable name's length or value's size, or null (the server's words). */
export function envVariableError(name: string, value: string): { name?: string; value?: string } {
  const out: { name?: string; value?: string } = {};
  if (name.length > ENV_NAME_MAX) out.name = `variable name must be at most ${ENV_NAME_MAX} characters long`;
  if (utf8Length(value) > ENV_VALUE_MAX) out.value = "value must be at most 32 KiB (UTF-8)";
  return out;
}

/** The message when the variables together break the count or total-size limit, or null. */
export function environError(vars: { name: string; value: string }[]): string | null {
  if (vars.length > ENV_COUNT_MAX) return `at most ${ENV_COUNT_MAX} variables are allowed`;
  const total = vars.reduce((n, v) => n + utf8Length(v.name) + utf8Length(v.value) + 2, 0);
  if (total > ENV_TOTAL_MAX) {
    return `the variables must total at most 256 KiB (NAME=VALUE, UTF-8); these are ${total} bytes`;
  }
  return null;
}

export function startupCommandError(command: string): string | null {
  return utf8Length(command) > STARTUP_COMMAND_MAX ? "must be at most 64 KiB (UTF-8)" : null;
}

export function timeoutError(value: number, unit: string): string | null {
  if (!(value > 0)) return "must be greater than zero";
  return value * (TIME_UNITS[unit] ?? 1) > TIMEOUT_MAX_SECONDS ? "must be at most 365d" : null;
}

/** Start times: a day in the past at most, a year ahead at most (the server's window). */
export function startsAtError(iso: string, nowMs: number): string | null {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "is not a date and time";
  if (at < nowMs - STARTS_AT_PAST_MAX_MS) return "must not be more than 1 day in the past";
  if (at > nowMs + STARTS_AT_FUTURE_MAX_MS) return "must not be more than 365 days in the future";
  return null;
}

export function cpuLimitError(cpu: number): string | null {
  if (!Number.isFinite(cpu)) return "must be a finite number";
  return cpu > CPU_MAX ? `must be at most ${CPU_MAX} cores` : null;
}

export function memLimitError(bytes: number): string | null {
  return bytes > MEM_MAX ? "must be at most 64t" : null;
}
