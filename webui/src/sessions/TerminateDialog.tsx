import { Alert, Checkbox, Modal, Space, Typography } from "antd";
import { useEffect, useState } from "react";
import { api, ApiError } from "../api";
import { useToast } from "../notifications/toast";

export interface Target {
  id: string;
  name: string;
}

interface Props {
  /** The sessions to end; the dialog is open while this is non-empty. */
  targets: Target[];
  onClose: () => void;
  onDone?: () => void;
}

/** "Terminate N sessions?" with the scratch-data warning and a Force option. */
export default function TerminateDialog({ targets, onClose, onDone }: Props) {
  const toast = useToast();
  const [force, setForce] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const open = targets.length > 0;

  useEffect(() => {
    if (open) {
      setForce(false);
      setError(null);
    }
  }, [open]);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      if (targets.length === 1) {
        await api.terminateSession(targets[0].id, force);
        toast.success(`Terminating ${targets[0].name}`);
      } else {
        const results = await api.terminateMany(
          targets.map((t) => t.id),
          force,
        );
        const refused = targets.filter((t) => results[t.id] && results[t.id] !== "ok");
        const done = targets.length - refused.length;
        if (done) toast.success(`Terminating ${done} session${done === 1 ? "" : "s"}`);
        for (const t of refused) toast.warning(`${t.name}: ${results[t.id]}`);
      }
      onDone?.();
      onClose();
    } catch (e) {
      setError((e as ApiError).message);
    } finally {
      setBusy(false);
    }
  };

  const what =
    targets.length === 1 ? (
      <Typography.Text strong>{targets[0].name}</Typography.Text>
    ) : (
      <Typography.Text strong>{targets.length} sessions</Typography.Text>
    );

  return (
    <Modal
      open={open}
      title={targets.length > 1 ? "Terminate sessions" : "Terminate session"}
      okText="Terminate"
      okButtonProps={{ danger: true, loading: busy }}
      onOk={confirm}
      onCancel={onClose}
      destroyOnHidden
      data-testid="terminate-dialog"
    >
      <Space direction="vertical" style={{ width: "100%" }}>
        <Typography.Paragraph style={{ marginBottom: 0 }}>
          Terminate {what}? Data in the scratch home <Typography.Text code>/home/work</Typography.Text>{" "}
          is lost when a session ends; files in mounted folders survive.
        </Typography.Paragraph>
        {targets.length > 1 && (
          <Typography.Paragraph type="secondary" ellipsis={{ rows: 2, expandable: true }}>
            {targets.map((t) => t.name).join(", ")}
          </Typography.Paragraph>
        )}
        <Checkbox checked={force} onChange={(e) => setForce(e.target.checked)}>
          Force
        </Checkbox>
        {force && (
          <Alert
            type="warning"
            showIcon
            message="Force terminate kills the containers at once, without letting programs exit cleanly, in any status, even if the agent is unreachable. Unsaved work and all scratch data in /home/work are lost."
          />
        )}
        {error && <Alert type="error" showIcon message={error} />}
      </Space>
    </Modal>
  );
}
