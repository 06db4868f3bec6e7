// Puts the server's refusal of a form onto the fields it names.
import type { FormInstance } from "antd";
import { ApiError } from "../api";

/** Sets the messages of the fields (of `known`) that `error` names; returns the text left for
 * a general alert, or null when every named field took its message. */
export function applyFieldErrors(form: FormInstance, error: unknown, known: readonly string[]): string | null {
  if (!(error instanceof ApiError)) return (error as Error)?.message ?? String(error);
  const mine = error.fields.filter((f) => known.includes(f.field));
  const named = [...new Set(mine.map((f) => f.field))];
  form.setFields(named.map((name) => ({ name, errors: mine.filter((f) => f.field === name).map((f) => f.message) })));
  if (mine.length > 0 && mine.length === error.fields.length) return null;
  return error.message;
}
