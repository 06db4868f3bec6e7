// Shared bits for the step forms: a field's status and message from the merged rule results.
import type { FormItemProps } from "antd";
import type { LaunchForm, Messages } from "./form";

export interface StepProps {
  form: LaunchForm;
  setForm: (patch: Partial<LaunchForm>) => void;
  errors: Messages;
  warnings: Messages;
}

/** validateStatus + help for one field key; `hint` shows when the field has no message. */
export function fieldStatus(
  key: string,
  errors: Messages,
  warnings: Messages,
  hint?: React.ReactNode,
): Pick<FormItemProps, "validateStatus" | "help"> {
  if (errors[key]) return { validateStatus: "error", help: errors[key] };
  if (warnings[key]) return { validateStatus: "warning", help: warnings[key] };
  return { help: hint };
}
