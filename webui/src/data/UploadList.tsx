// The explorer's uploads: overall progress, then one line per file with its own progress.
import { CloseOutlined, RedoOutlined } from "@ant-design/icons";
import { Button, Card, List, Progress, Space, Tooltip, Typography } from "antd";
import { formatBytes, plural } from "../format";
import { itemPercent, type Progress as Totals, type UploadItem, type UploadQueue } from "./upload";

interface Props {
  items: UploadItem[];
  progress: Totals;
  queue: UploadQueue;
}

const STATUS: Record<UploadItem["status"], "normal" | "active" | "success" | "exception"> = {
  queued: "normal",
  uploading: "active",
  done: "success",
  error: "exception",
  cancelled: "normal",
};

export default function UploadList({ items, progress, queue }: Props) {
  if (items.length === 0) return null;
  const summary =
    progress.active > 0
      ? `Uploading ${progress.done} of ${plural(progress.count, "file")} · ${formatBytes(progress.sent)} of ${formatBytes(progress.total)}`
      : `Uploaded ${progress.done} of ${plural(progress.count, "file")}` + (progress.failed ? ` · ${progress.failed} failed` : "");
  return (
    <Card
      size="small"
      style={{ marginTop: 12 }}
      title={<span data-testid="upload-summary">{summary}</span>}
      extra={
        progress.active === 0 ? (
          <Button size="small" onClick={() => queue.clearFinished()}>
            Clear
          </Button>
        ) : (
          <Button size="small" onClick={() => queue.cancelAll()}>
            Cancel all
          </Button>
        )
      }
    >
      <Progress
        percent={progress.percent}
        status={progress.active > 0 ? "active" : progress.failed > 0 ? "exception" : "success"}
        aria-label="Overall upload progress"
      />
      <List
        size="small"
        style={{ maxHeight: 220, overflowY: "auto" }}
        dataSource={items}
        renderItem={(item) => (
          <List.Item
            data-testid="upload-item"
            style={{ paddingInline: 0 }}
            actions={[
              (item.status === "queued" || item.status === "uploading") && (
                <Tooltip key="cancel" title="Cancel">
                  <Button size="small" type="text" icon={<CloseOutlined />} aria-label={`Cancel ${item.path}`} onClick={() => queue.cancel(item.id)} />
                </Tooltip>
              ),
              (item.status === "error" || item.status === "cancelled") && (
                <Tooltip key="retry" title="Retry (resumes where it stopped)">
                  <Button size="small" type="text" icon={<RedoOutlined />} aria-label={`Retry ${item.path}`} onClick={() => queue.retry(item.id)} />
                </Tooltip>
              ),
            ].filter(Boolean)}
          >
            <Space direction="vertical" size={0} style={{ width: "100%", minWidth: 0 }}>
              <Typography.Text ellipsis={{ tooltip: item.path }} style={{ maxWidth: "100%" }}>
                {item.path}
              </Typography.Text>
              <Progress
                percent={itemPercent(item)}
                size="small"
                status={STATUS[item.status]}
                format={(p) => (item.status === "cancelled" ? "cancelled" : item.status === "queued" ? "waiting" : `${p}%`)}
              />
              {item.error && (
                <Typography.Text type="danger" style={{ fontSize: 12 }}>
                  {item.error}
                </Typography.Text>
              )}
            </Space>
          </List.Item>
        )}
      />
    </Card>
  );
}
