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
