import { Alert, Divider, Empty, Skeleton, Typography } from "antd";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { ApiError } from "../api";
import type { SessionApp } from "../types";
import { appsApi } from "./appsApi";
import AppTile from "./AppTile";
import LogdirForm from "./LogdirForm";
import {
  DEFAULT_LOGDIR,
  DEFAULT_OPTIONS,
  validateOptions,
  type OpenErrors,
  type OpenOptions,
} from "./openForm";
import OpenOptionsForm from "./OpenOptionsForm";
import SshPanel from "./SshPanel";
import { useOpenApp } from "./useOpenApp";
import { useToast } from "../notifications/toast";

/** Apps that ask for a log directory before they open. */
const ASKS_LOGDIR = new Set(["tensorboard"]);

interface Props {
  sessionId: string;
}

/** The content of the app launcher: the tiles, the options, and what an open app needs next. */
export default function AppLauncherBody({ sessionId }: Props) {
  const toast = useToast();
  const [apps, setApps] = useState<SessionApp[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [options, setOptions] = useState<OpenOptions>(DEFAULT_OPTIONS);
  const [asking, setAsking] = useState<SessionApp | null>(null);
  const [logdir, setLogdir] = useState(DEFAULT_LOGDIR);

  const load = useCallback(async () => {
    try {
      setApps(await appsApi.list(sessionId));
      setLoadError(null);
    } catch (e) {
      setLoadError((e as ApiError).message);
    }
  }, [sessionId]);

  useEffect(() => {
    void load();
  }, [load]);

  const opener = useOpenApp(sessionId, () => void load());

  // Rules of what was typed show at once; an empty port only when opening.
  const live = useMemo(() => validateOptions({ ...options, tryPort: options.tryPort && options.port !== null }), [options]);
  const errors: OpenErrors = { ...opener.errors, ...live };

  const changeOptions = (patch: Partial<OpenOptions>) => {
    setOptions((old) => ({ ...old, ...patch }));
    if ("public" in patch || "allowedIps" in patch) opener.clearError("allowed_ips");
    if ("tryPort" in patch || "port" in patch) opener.clearError("preferred_port");
  };

  const onTile = (app: SessionApp) => {
    if (ASKS_LOGDIR.has(app.name)) {
      opener.reset();
      setAsking(app);
      return;
    }
    setAsking(null);
    void opener.open(app, options, null);
  };

  const openAsked = async () => {
    if (!asking) return;
    if (await opener.open(asking, options, logdir)) setAsking(null);
  };

  const closeRoute = async (app: SessionApp) => {
    try {
      await appsApi.close(sessionId, app.name);
      toast.success(`Closed the route to ${app.title}`);
    } catch (e) {
      toast.error(`Could not close ${app.title}: ${(e as ApiError).message}`);
    }
    void load();
  };

  if (opener.ssh) return <SshPanel sessionId={sessionId} ssh={opener.ssh} onBack={opener.clearSsh} />;

  return (
    <div data-testid="app-launcher">
      {loadError && <Alert type="error" showIcon message="Could not list the apps" description={loadError} />}
      {!apps && !loadError && <Skeleton active paragraph={{ rows: 3 }} />}
      {apps && apps.length === 0 && (
        <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description="This session offers no apps" />
      )}
      {apps && apps.length > 0 && (
        <div className="app-grid">
          {apps.map((app) => (
            <AppTile
              key={app.name}
              app={app}
              busy={opener.busy === app.name}
              disabled={opener.busy !== null}
              onOpen={() => onTile(app)}
              onCloseRoute={() => void closeRoute(app)}
            />
          ))}
        </div>
      )}
      {asking && (
        <LogdirForm
          value={logdir}
          error={errors.logdir}
          busy={opener.busy === asking.name}
          onChange={(v) => {
            setLogdir(v);
            opener.clearError("logdir");
          }}
          onOpen={() => void openAsked()}
          onCancel={() => setAsking(null)}
        />
      )}
      {opener.alert && (
        <Alert type="error" showIcon message={opener.alert} style={{ marginTop: 12 }} data-testid="app-error" />
      )}
      {opener.blocked && (
        <Alert
          type="warning"
          showIcon
          style={{ marginTop: 12 }}
          message="The browser blocked the new window"
          description={
            <Typography.Link href={opener.blocked.url} target="_blank" rel="noopener noreferrer">
              Open {opener.blocked.title}
            </Typography.Link>
          }
        />
      )}
      <Divider style={{ margin: "16px 0 12px" }} />
      <OpenOptionsForm value={options} errors={errors} disabled={opener.busy !== null} onChange={changeOptions} />
    </div>
  );
}
