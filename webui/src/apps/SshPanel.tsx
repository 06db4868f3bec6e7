import { DownloadOutlined } from "@ant-design/icons";
import { Alert, Button, Descriptions, Space, Typography } from "antd";
import { useState } from "react";
import type { ApiError } from "../api";
import type { SshInfo } from "../types";
import { appsApi } from "./appsApi";
import { sshCommands } from "./openForm";
import { useToast } from "../notifications/toast";

interface Props {
  sessionId: string;
  ssh: SshInfo;
  onBack: () => void;
}

/** Save text as a file through a temporary link (octet-stream: browsers add no ".txt"). */
function saveText(text: string, filename: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function CommandLine({ label, text, testId }: { label: string; text: string; testId: string }) {
  return (
    <div style={{ display: "flex", alignItems: "center", gap: 8 }}>
      <Typography.Text type="secondary" style={{ width: 36 }}>
        {label}
      </Typography.Text>
      <pre className="command" style={{ flex: 1 }} data-testid={testId}>
        {text}
      </pre>
      <Typography.Text copyable={{ text, tooltips: [`Copy the ${label} command`, "Copied"] }} />
    </div>
  );
}

/** How to reach the session over SSH/SFTP: host, port, user, commands, the private key. */
export default function SshPanel({ sessionId, ssh, onBack }: Props) {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const commands = sshCommands(ssh);

  const download = async () => {
    setBusy(true);
    try {
      saveText(await appsApi.sshKey(sessionId), "id_container");
      toast.success("Saved id_container; run chmod 600 id_container before using it");
    } catch (e) {
      toast.error(`Could not download the key: ${(e as ApiError).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Space direction="vertical" style={{ width: "100%" }} data-testid="ssh-panel">
      <Typography.Text strong>SSH/SFTP</Typography.Text>
      <Descriptions size="small" column={3} bordered>
        <Descriptions.Item label="Host">
          <Typography.Text copyable>{ssh.host}</Typography.Text>
        </Descriptions.Item>
        <Descriptions.Item label="Port">
          <Typography.Text copyable>{String(ssh.port)}</Typography.Text>
        </Descriptions.Item>
        <Descriptions.Item label="User">
          <Typography.Text copyable>{ssh.user}</Typography.Text>
        </Descriptions.Item>
      </Descriptions>
      <Typography.Text type="secondary">
        The private key is also in <Typography.Text code>/home/work/id_container</Typography.Text> inside the
        session.
      </Typography.Text>
      <CommandLine label="SSH" text={commands.ssh} testId="ssh-command" />
      <CommandLine label="SFTP" text={commands.sftp} testId="sftp-command" />
      <Alert
        type="info"
        showIcon
        message="Save the key as id_container and make it private (chmod 600 id_container) before using it."
      />
      <Space>
        <Button type="primary" icon={<DownloadOutlined />} loading={busy} onClick={() => void download()}>
          Download key
        </Button>
        <Button onClick={onBack}>Back to apps</Button>
      </Space>
    </Space>
  );
}
