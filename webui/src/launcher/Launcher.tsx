// The launcher: five steps, "Next" / "Previous" / "Skip to review", recent history. Its state
// lives in the URL (?step=N&s=<base64url JSON of the changed fields>), so reload and
// back/forward keep it.
import { ArrowLeftOutlined, ArrowRightOutlined, RocketOutlined } from "@ant-design/icons";
import { Alert, App, Button, Card, Col, Grid, Row, Space, Steps, Typography } from "antd";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { ApiError } from "../api";
import { isAdmin, useUser } from "../auth";
import { notify } from "../notifications/notify";
import {
  decodeForm,
  encodeForm,
  formField,
  fromParams,
  imageRef,
  stepOf,
  STEP_TITLES,
  suffixedName,
  toBody,
  validate,
  type AgentInfo,
  type ImageInfo,
  type LaunchForm,
  type Messages,
} from "./form";
import { launcherApi, type Launch } from "./launcherApi";
import { isAutoMounted, resolveFolderRefs } from "./mounts";
import RecentHistory from "./RecentHistory";
import StepConfirm from "./StepConfirm";
import StepData from "./StepData";
import StepEnvironment from "./StepEnvironment";
import StepNetwork from "./StepNetwork";
import StepType from "./StepType";
import { useFolders } from "./useFolders";
import { useLaunchScope } from "./useLaunchScope";

const LAST = STEP_TITLES.length - 1;

export default function Launcher() {
  const user = useUser();
  const admin = isAdmin(user);
  const navigate = useNavigate();
  const { modal } = App.useApp();
  const narrow = !Grid.useBreakpoint().md;
  const [params, setParams] = useSearchParams();

  // ---- form state, mirrored into the URL ----
  const sParam = params.get("s") ?? "";
  const [form, setFormState] = useState<LaunchForm>(() => decodeForm(sParam));
  const written = useRef(sParam);
  // Set once a launch succeeded: the page is leaving, so nothing may write the URL any more
  // (setParams navigates relative to this route and would bring the user back here).
  const leaving = useRef(false);
  useEffect(() => {
    if (sParam !== written.current) {
      written.current = sParam; // back/forward or a link: the URL wins
      setFormState(decodeForm(sParam));
    }
  }, [sParam]);
  useEffect(() => {
    const enc = encodeForm(form);
    if (enc === written.current || leaving.current) return;
    written.current = enc;
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (enc) next.set("s", enc);
        else next.delete("s");
        return next;
      },
      { replace: true },
    );
  }, [form, setParams]);
  const setForm = useCallback(
    (patch: Partial<LaunchForm>) => setFormState((prev) => ({ ...prev, ...patch })),
    [],
  );

  const stepParam = Number(params.get("step") ?? "1");
  const step = Number.isInteger(stepParam) ? Math.min(Math.max(stepParam - 1, 0), LAST) : 0;
  const goTo = useCallback(
    (n: number, nextForm?: LaunchForm) => {
      if (leaving.current) return;
      const enc = nextForm ? encodeForm(nextForm) : written.current;
      if (nextForm) {
        written.current = enc;
        setFormState(nextForm);
      }
      const next = new URLSearchParams();
      next.set("step", String(n + 1));
      if (enc) next.set("s", enc);
      setParams(next);
      window.scrollTo({ top: 0 });
    },
    [setParams],
  );

  // ---- catalog, agents, history ----
  const [images, setImages] = useState<ImageInfo[]>([]);
  const [agents, setAgents] = useState<AgentInfo[]>([]);
  const [launches, setLaunches] = useState<Launch[] | null>(null);
  const [tick, setTick] = useState(0);
  const [loadError, setLoadError] = useState<string | null>(null);
  const loadLaunches = useCallback(() => {
    launcherApi
      .launches()
      .then(setLaunches)
      .catch(() => setLaunches([]));
  }, []);
  const loadImages = useCallback(() => {
    launcherApi
      .images()
      .then(setImages)
      .catch((e: unknown) => setLoadError(e instanceof Error ? e.message : String(e)));
  }, []);
  useEffect(() => {
    loadImages();
    const loadAgents = () => {
      setTick((t) => t + 1);
      return launcherApi.agents().then(setAgents).catch(() => undefined);
    };
    void loadAgents();
    const timer = window.setInterval(loadAgents, 10000);
    loadLaunches();
    return () => window.clearInterval(timer);
  }, [loadLaunches, loadImages]);
  // A default environment once the catalog is known (python first when there is one).
  useEffect(() => {
    if (images.length && !form.image) {
      const pick = images.find((i) => /python/i.test(i.display_name)) ?? images[0];
      setForm({ image: pick.ref });
    }
  }, [images, form.image, setForm]);

  // ---- projects, resource groups, presets and the resource check of the owner ----
  const scope = useLaunchScope({
    admin,
    ownerEmail: admin ? (form.assignOwner ? form.ownerEmail : user.email) : null,
    selfEmail: user.email,
    group: form.resourceGroup || "default",
    project: form.project,
    tick,
  });
  // A group or project the owner may not use (another owner, a stale link): the first allowed.
  useEffect(() => {
    if (scope.groups && scope.groups.length && !scope.groups.includes(form.resourceGroup)) {
      setForm({ resourceGroup: scope.groups.includes("default") ? "default" : scope.groups[0], agent: "" });
    }
  }, [scope.groups, form.resourceGroup, setForm]);
  useEffect(() => {
    if (scope.projects && form.project && !scope.projects.includes(form.project)) setForm({ project: "" });
  }, [scope.projects, form.project, setForm]);

  // ---- folders to mount; a relaunch of a CLI launch names them, the form keeps ids ----
  const folderList = useFolders();
  const { folders } = folderList;
  useEffect(() => {
    const resolved = folders ? resolveFolderRefs(form.mounts, folders) : null;
    if (resolved) setForm({ mounts: resolved });
  }, [folders, form.mounts, setForm]);

  // ---- rules: the client's, then the server's dry run ----
  const check = scope.check;
  const ctx = useMemo(
    () => ({ images, agents, isAdmin: admin, folders, check }),
    [images, agents, admin, folders, check],
  );
  const local = useMemo(() => validate(form, ctx), [form, ctx]);
  const body = useMemo(() => toBody(form), [form]);
  const bodyKey = JSON.stringify(body);
  const [server, setServer] = useState<{ key: string; errors: Messages } | null>(null);
  useEffect(() => {
    if (!body.image) return;
    const ctl = new AbortController();
    const timer = window.setTimeout(() => {
      launcherApi
        .create(body, true, ctl.signal)
        .then(() => setServer({ key: bodyKey, errors: {} }))
        .catch((e: unknown) => {
          if ((e as Error).name === "AbortError") return;
          const errors: Messages = {};
          if (e instanceof ApiError && e.fields.length) {
            for (const fe of e.fields) {
              const key = formField(fe.field, form);
              errors[key] ??= fe.message;
            }
          } else if (e instanceof Error) {
            errors.general = e.message;
          }
          setServer({ key: bodyKey, errors });
        });
    }, 350);
    return () => {
      window.clearTimeout(timer);
      ctl.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- bodyKey stands for body and form
  }, [bodyKey]);
  const errors = useMemo(() => {
    const merged: Messages = { ...local.errors };
    if (server && server.key === bodyKey) {
      for (const [k, m] of Object.entries(server.errors)) {
        // The client's rule names the problem already; the server adds what only it knows.
        const sameStep = Object.keys(local.errors).some((lk) => stepOf(lk) === stepOf(k));
        if (!merged[k] && !(sameStep && k !== "name" && k !== "owner_email" && k !== "image")) {
          merged[k] = m;
        }
      }
    }
    return merged;
  }, [local.errors, server, bodyKey]);
  const checking = !server || server.key !== bodyKey;
  const errorCount = Object.keys(errors).length;
  const stepHasError = (i: number) => Object.keys(errors).some((k) => stepOf(k) === i);

  // ---- launch ----
  const [launching, setLaunching] = useState(false);
  const launch = async () => {
    setLaunching(true);
    try {
      const created = await launcherApi.create(body);
      // Each session's own notice says it was created and follows it (no second toast).
      for (const s of created) {
        notify({ id: s.id, name: s.name, status: s.status });
      }
      leaving.current = true;
      navigate("/sessions");
    } catch (e) {
      if (e instanceof ApiError && e.fields.length) {
        const errs: Messages = {};
        for (const fe of e.fields) errs[formField(fe.field, form)] ??= fe.message;
        setServer({ key: bodyKey, errors: errs });
      } else {
        setServer({ key: bodyKey, errors: { general: e instanceof Error ? e.message : String(e) } });
      }
    } finally {
      setLaunching(false);
    }
  };
  // Auto-mounted dot-folders are mounted data too: no warning then.
  const mountsData = form.mounts.length > 0 || (folders ?? []).some(isAutoMounted);
  const confirmLaunch = () => {
    if (mountsData) {
      void launch();
      return;
    }
    modal.confirm({
      title: "No storage folder is mounted",
      content: (
        <>
          The session works in <Typography.Text code>/home/work</Typography.Text>, a scratch
          directory that is deleted when the session ends. Start anyway?
        </>
      ),
      okText: "Start",
      cancelText: "Cancel",
      onOk: launch,
    });
  };

  const openLaunch = (l: Launch) => {
    const next = fromParams(l.params);
    next.name = suffixedName(next.name);
    goTo(LAST, next);
  };

  const stepProps = { form, setForm, errors, warnings: local.warnings };
  const content = [
    <StepType key="t" {...stepProps} admin={admin} projects={scope.projects} />,
    <StepEnvironment
      key="e"
      {...stepProps}
      images={images}
      agents={agents}
      scope={scope}
      narrow={narrow}
      onImagesChanged={loadImages}
    />,
    <StepData key="d" {...stepProps} folderList={folderList} />,
    <StepNetwork key="n" {...stepProps} images={images} />,
    <StepConfirm
      key="c"
      form={form}
      errors={errors}
      warnings={local.warnings}
      images={images}
      admin={admin}
      folders={folders}
      presets={scope.presets}
      onEdit={goTo}
    />,
  ][step];

  return (
    <div style={{ maxWidth: 1280 }} data-testid="launcher">
      <Typography.Title level={3} style={{ marginTop: 0, marginBottom: 12 }}>
        Start a session
      </Typography.Title>
      {loadError && (
        <Alert type="error" showIcon style={{ marginBottom: 12 }} message={`Cannot load environments: ${loadError}`} />
      )}
      {/* Phone width: the steps and history go below the form instead of squeezing it. */}
      <Row gutter={[16, 12]} wrap={narrow}>
        <Col flex={narrow ? "1 1 100%" : "auto"} style={{ minWidth: 0 }}>
          <Card
            title={`${step + 1}. ${STEP_TITLES[step]}`}
            size="small"
            styles={{ body: { minHeight: 300 } }}
            data-testid="launcher-step"
          >
            {content}
          </Card>
          <div
            style={{
              position: "sticky",
              bottom: 0,
              background: "#f5f5f5",
              padding: "12px 0",
              display: "flex",
              flexWrap: "wrap",
              gap: 8,
              zIndex: 2,
            }}
          >
            <Button icon={<ArrowLeftOutlined />} disabled={step === 0} onClick={() => goTo(step - 1)}>
              Previous
            </Button>
            {step < LAST && (
              <Button type="primary" onClick={() => goTo(step + 1)}>
                Next <ArrowRightOutlined />
              </Button>
            )}
            <div style={{ flex: 1 }} />
            {step < LAST && <Button onClick={() => goTo(LAST)}>Skip to review</Button>}
            {step === LAST && (
              <Space>
                {errorCount > 0 && (
                  <Typography.Text type="danger">
                    Fix {errorCount === 1 ? "the error" : `${errorCount} errors`} to launch
                  </Typography.Text>
                )}
                <Button
                  type="primary"
                  data-testid="launch-button"
                  icon={<RocketOutlined />}
                  disabled={errorCount > 0 || !imageRef(form)}
                  loading={launching}
                  onClick={confirmLaunch}
                  title={checking ? "checking with the server…" : undefined}
                >
                  Launch
                </Button>
              </Space>
            )}
          </div>
        </Col>
        <Col flex={narrow ? "1 1 100%" : "280px"} style={{ minWidth: 0 }}>
          <Card size="small" style={{ marginBottom: 12 }}>
            <Steps
              direction="vertical"
              size="small"
              current={step}
              onChange={(n) => goTo(n)}
              items={STEP_TITLES.map((title, i) => ({
                title,
                status: i === step ? "process" : stepHasError(i) ? "error" : i < step ? "finish" : "wait",
              }))}
            />
          </Card>
          <RecentHistory launches={launches} onChanged={loadLaunches} onOpen={openLaunch} />
        </Col>
      </Row>
    </div>
  );
}
