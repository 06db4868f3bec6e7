// Opening one app of a session: check the options, open a blank window during the click, ask
// the server (POST /apps/{name}/open), then send the window to the app (or show SSH details,
// or a link when the browser blocked the window). Refusals go to their fields or an Alert.
import { useCallback, useState } from "react";
import { ApiError } from "../api";
import type { SessionApp, SshInfo } from "../types";
import { appsApi, terminalPath } from "./appsApi";
import {
  openNotes,
  splitApiError,
  sshCommands,
  toOpenBody,
  validateOptions,
  type OpenErrors,
  type OpenOptions,
} from "./openForm";
import { closePending, navigatePending, openPending, openWindow } from "./popup";
import { useToast } from "../notifications/toast";

export interface BlockedLink {
  title: string;
  url: string;
}

export interface OpenAppState {
  /** The name of the app being opened, or null. */
  busy: string | null;
  errors: OpenErrors;
  alert: string | null;
  ssh: SshInfo | null;
  blocked: BlockedLink | null;
  open: (app: SessionApp, options: OpenOptions, logdir: string | null) => Promise<boolean>;
  clearSsh: () => void;
  clearError: (field: keyof OpenErrors) => void;
  reset: () => void;
}

export function useOpenApp(sessionId: string, onOpened: () => void): OpenAppState {
  const toast = useToast();
  const [busy, setBusy] = useState<string | null>(null);
  const [errors, setErrors] = useState<OpenErrors>({});
  const [alert, setAlert] = useState<string | null>(null);
  const [ssh, setSsh] = useState<SshInfo | null>(null);
  const [blocked, setBlocked] = useState<BlockedLink | null>(null);

  const open = useCallback(
    async (app: SessionApp, options: OpenOptions, logdir: string | null): Promise<boolean> => {
      setAlert(null);
      setBlocked(null);
      if (app.protocol === "pty") {
        const url = terminalPath(sessionId);
        if (!openWindow(url)) setBlocked({ title: app.title, url });
        return true;
      }
      const problems = validateOptions(options, logdir);
      setErrors(problems);
      if (Object.keys(problems).length > 0) return false;

      // Synchronously, while the click still counts as one (popup blockers).
      const win = app.protocol === "tcp" ? null : openPending(app.title);
      setBusy(app.name);
      try {
        const result = await appsApi.open(sessionId, app.name, toOpenBody(options, logdir));
        const notes = openNotes(result, result.ssh ? sshCommands(result.ssh).ssh : null);
        if (notes) toast.info(notes);
        if (result.ssh) {
          closePending(win);
          setSsh(result.ssh);
        } else if (result.url) {
          const url = new URL(result.url, window.location.href).href;
          if (!navigatePending(win, url)) setBlocked({ title: app.title, url });
        } else {
          closePending(win);
          setAlert(`The server gave no address for ${app.title}`);
        }
        onOpened();
        return true;
      } catch (e) {
        closePending(win);
        if (!(e instanceof ApiError)) throw e;
        const split = splitApiError(e);
        setErrors(split.fields);
        setAlert(split.general ? `Could not open ${app.title}: ${split.general}` : null);
        return false;
      } finally {
        setBusy(null);
      }
    },
    [sessionId, toast, onOpened],
  );

  return {
    busy,
    errors,
    alert,
    ssh,
    blocked,
    open,
    clearSsh: useCallback(() => setSsh(null), []),
    clearError: useCallback(
      (field: keyof OpenErrors) =>
        setErrors((old) => {
          if (!old[field]) return old;
          const next = { ...old };
          delete next[field];
          return next;
        }),
      [],
    ),
    reset: useCallback(() => {
      setErrors({});
      setAlert(null);
      setBlocked(null);
    }, []),
  };
}
