import { Alert, Button, Form, Input, Modal, Progress, Space, Typography } from "antd";
import { useEffect, useState } from "react";
import { ApiError } from "../api";
import { commitFinished, commitNameError, progressStatus, progressText } from "./commit";
import { commitsApi, type CommitTask } from "./commitsApi";

export interface CommitTarget {
  id: string;
  name: string;
}

interface Props {
  /** The session to convert; the dialog is open while this is set. */
  target: CommitTarget | null;
  onClose: () => void;
}

/** How often the dialog asks for the task's state, ms. */
const POLL_MS = 700;

/** "Convert to image": a name (checked as typed), then the task's progress until done or failed. */
export default function CommitDialog({ target, onClose }: Props) {
  const [name, setName] = useState("");
  const [touched, setTouched] = useState(false);
  const [serverError, setServerError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [task, setTask] = useState<CommitTask | null>(null);

  // A fresh form when opened; a commit of this session still running is followed at once.
  useEffect(() => {
    setName("");
    setTouched(false);
    setServerError(null);
    setError(null);
    setTask(null);
    if (!target) return;
    let live = true;
    commitsApi
      .sessionCommits(target.id)
      .then((tasks) => {
        const running = tasks.find((t) => !commitFinished(t));
        if (live && running) setTask(running);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [target]);

  // Poll the task until it ends.
  const taskId = task?.id;
  const finished = task ? commitFinished(task) : true;
  useEffect(() => {
    if (!taskId || finished) return;
    let live = true;
    const timer = window.setTimeout(() => {
      commitsApi
        .get(taskId)
        .then((t) => live && setTask(t))
        .catch((e: unknown) => live && setError((e as ApiError).message));
    }, POLL_MS);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [taskId, finished, task]);

  const problem = commitNameError(name);
  const fieldError = serverError ?? (touched && problem ? `Name ${problem}` : null);

  const start = async () => {
    if (!target) return;
    setTouched(true);
    if (problem) return;
    setBusy(true);
    setError(null);
    try {
      setTask(await commitsApi.commit(target.id, name));
    } catch (e) {
      const err = e as ApiError;
      const msg = err.fieldMessage("name");
      if (msg) setServerError(`Name ${msg}`);
      else setError(err.message);
    } finally {
      setBusy(false);
    }
  };

  const footer = task
    ? [
        <Button key="close" type={finished ? "primary" : "default"} onClick={onClose}>
          Close
        </Button>,
      ]
    : [
        <Button key="cancel" onClick={onClose}>
          Cancel
        </Button>,
        <Button key="ok" type="primary" loading={busy} disabled={problem !== null} onClick={() => void start()}>
          Convert
        </Button>,
      ];

  return (
    <Modal
      open={target !== null}
      title="Convert to image"
      onCancel={onClose}
      footer={footer}
      destroyOnHidden
      data-testid="commit-dialog"
    >
      {target && !task && (
        <Form layout="vertical" onSubmitCapture={(e) => e.preventDefault()}>
          <Typography.Paragraph>
            Save the current state of <Typography.Text strong>{target.name}</Typography.Text> as your customized
            image. Everything outside the mounts is kept; the scratch home{" "}
            <Typography.Text code>/home/work</Typography.Text> and mounted folders are not. The session cannot be
            terminated normally while it is being converted.
          </Typography.Paragraph>
          <Form.Item
            label="Image name"
            htmlFor="commit-name"
            validateStatus={fieldError ? "error" : undefined}
            help={fieldError ?? "4 to 32 letters, digits, '-' and '_'"}
          >
            <Input
              id="commit-name"
              value={name}
              autoFocus
              maxLength={64}
              placeholder="e.g. my-env_1"
              onChange={(e) => {
                setName(e.target.value);
                setTouched(true);
                setServerError(null);
              }}
              onPressEnter={() => void start()}
            />
          </Form.Item>
        </Form>
      )}
      {task && <CommitProgress task={task} />}
      {error && <Alert type="error" showIcon message={error} data-testid="commit-error" />}
    </Modal>
  );
}

/** The task's phase, percent and size; once ended, the image's full name or why it failed. */
export function CommitProgress({ task }: { task: CommitTask }) {
  return (
    <Space direction="vertical" style={{ width: "100%" }} data-testid="commit-progress">
      <Typography.Text>
        {task.status === "done" ? "Converted to" : "Converting to"}{" "}
        <Typography.Text strong>{task.name}</Typography.Text>
      </Typography.Text>
      <Progress percent={Math.round(task.progress)} status={progressStatus(task)} data-testid="commit-bar" />
      <Typography.Text type="secondary" data-testid="commit-phase" data-status={task.status}>
        {progressText(task)}
      </Typography.Text>
      {task.status === "done" && (
        <Alert
          type="success"
          showIcon
          data-testid="commit-result"
          message="Image saved"
          description={
            <Space direction="vertical" size={4} style={{ width: "100%" }}>
              <Typography.Text code copyable data-testid="commit-image" style={{ overflowWrap: "anywhere" }}>
                {task.image}
              </Typography.Text>
              <span>Find it in the launcher's environment list, tagged Customized.</span>
            </Space>
          }
        />
      )}
      {task.status === "failed" && (
        <Alert
          type="error"
          showIcon
          data-testid="commit-failed"
          message="The conversion failed"
          description={task.reason || "no reason given"}
        />
      )}
      {!commitFinished(task) && (
        <Typography.Text type="secondary">
          You may close this dialog; the conversion goes on and the session keeps running.
        </Typography.Text>
      )}
    </Space>
  );
}
