import { DownloadOutlined, ReloadOutlined } from "@ant-design/icons";
import { Alert, Button, Modal, Space, Spin, Typography } from "antd";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api";
import { logFileName } from "./highlight";
import LogsToolbar, { type LogsOptions } from "./LogsToolbar";
import LogText from "./LogText";
import { useToast } from "../notifications/toast";

export interface LogsTarget {
  sessionId: string;
  sessionName: string;
  kernelId: string;
  kernelName: string;
}

interface Props {
  target: LogsTarget | null;
  onClose: () => void;
}

const DEFAULTS: LogsOptions = { tail: 1000, autoRefresh: false, interval: 5, follow: true };

/** Container logs of one kernel: search, follow the tail, auto-refresh, download. */
export default function LogsModal({ target, onClose }: Props) {
  const toast = useToast();
  const [text, setText] = useState("");
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [options, setOptions] = useState<LogsOptions>(DEFAULTS);
  const [query, setQuery] = useState("");
  const [current, setCurrent] = useState(0);
  const box = useRef<HTMLPreElement>(null);

  const load = useCallback(async () => {
    if (!target) return;
    setLoading(true);
    try {
      const tail = options.tail > 0 ? options.tail : undefined;
      setText(await api.logs(target.sessionId, target.kernelId, tail));
      setError(null);
    } catch (e) {
      setError((e as ApiError).message);
    } finally {
      setLoading(false);
    }
  }, [target, options.tail]);

  useEffect(() => {
    if (target) void load();
    else {
      setText("");
      setQuery("");
      setError(null);
    }
  }, [target, load]);

  useEffect(() => {
    if (!target || !options.autoRefresh) return;
    const timer = window.setInterval(() => void load(), options.interval * 1000);
    return () => window.clearInterval(timer);
  }, [target, options.autoRefresh, options.interval, load]);

  // Follow the tail: after every load, show the last line.
  useEffect(() => {
    if (options.follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text, options.follow]);

  // Bring the current match into view.
  useEffect(() => {
    const mark = box.current?.querySelector(`mark[data-match="${current}"]`);
    mark?.scrollIntoView({ block: "center" });
  }, [current, query]);

  const download = async () => {
    if (!target) return;
    try {
      const all = await api.logs(target.sessionId, target.kernelId);
      const url = URL.createObjectURL(new Blob([all], { type: "text/plain;charset=utf-8" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = logFileName(target.sessionName, target.kernelName);
      document.body.appendChild(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) {
      toast.error(`Download failed: ${(e as ApiError).message}`);
    }
  };

  return (
    <Modal
      open={target !== null}
      onCancel={onClose}
      width="min(1100px, 94vw)"
      title={
        target && (
          <Space>
            Logs of {target.sessionName}
            <Typography.Text type="secondary">kernel {target.kernelName}</Typography.Text>
          </Space>
        )
      }
      footer={
        <Space>
          <Button icon={<ReloadOutlined />} onClick={() => void load()} loading={loading}>
            Refresh
          </Button>
          <Button type="primary" icon={<DownloadOutlined />} onClick={() => void download()}>
            Download
          </Button>
        </Space>
      }
      data-testid="logs-modal"
      destroyOnHidden
    >
      <LogsToolbar
        text={text}
        options={options}
        onOptions={(patch) => setOptions((o) => ({ ...o, ...patch }))}
        query={query}
        onQuery={(q) => {
          setQuery(q);
          setCurrent(0);
          if (q) setOptions((o) => ({ ...o, follow: false }));
        }}
        current={current}
        onCurrent={setCurrent}
      />
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 8 }} />}
      <Spin spinning={loading && !text}>
        <pre ref={box} className="log-box" data-testid="log-text" tabIndex={0}>
          {text ? (
            <LogText text={text} query={query} current={current} />
          ) : (
            <Typography.Text type="secondary">{loading ? " " : "No output yet."}</Typography.Text>
          )}
        </pre>
      </Spin>
    </Modal>
  );
}
