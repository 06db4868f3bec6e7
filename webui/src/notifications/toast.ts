// Short notices after an action, in one place so they all behave alike: a success closes by
// itself after a few seconds (hovering pauses it, a bar shows the time left); a failure or
// warning stays until its close button is clicked, in the colour and icon of its kind.
import { App } from "antd";
import { useMemo, type ReactNode } from "react";

/** Seconds a success notice stays. */
export const SUCCESS_CLOSE_S = 6;

export interface Toast {
  success: (text: ReactNode) => void;
  info: (text: ReactNode) => void;
  warning: (text: ReactNode) => void;
  error: (text: ReactNode) => void;
}

export function useToast(): Toast {
  const { notification } = App.useApp();
  return useMemo(() => {
    const closing = { duration: SUCCESS_CLOSE_S, showProgress: true, pauseOnHover: true };
    const staying = { duration: 0 };
    return {
      success: (text) => notification.success({ message: text, ...closing }),
      info: (text) => notification.info({ message: text, ...closing }),
      warning: (text) => notification.warning({ message: text, ...staying }),
      error: (text) => notification.error({ message: text, ...staying }),
    };
  }, [notification]);
}
