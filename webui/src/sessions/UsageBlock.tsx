import { Space, Typography } from "antd";
import type { ReactNode } from "react";
import { formatBytes } from "../format";
import type { Kernel, KernelUsage, SessionUsage } from "../types";
import Sparkline from "./Sparkline";
import { cpuText, hasAccelerator, memText, rateText, seriesOf } from "./usage";

interface Props {
  usage: SessionUsage | null;
  /** The session's kernels (for their host names). */
  kernels: Kernel[];
  /** The last poll failed. */
  failed: boolean;
}

/** The live usage of a RUNNING session: per kernel, CPU, memory, network, disk and (when the
 * kernel has one) accelerator figures, each with a sparkline of the recent window. */
export default function UsageBlock({ usage, kernels, failed }: Props) {
  if (!usage) {
    return (
      <Typography.Text type="secondary" data-testid="session-usage-empty">
        {failed ? "Usage is not available right now." : "Loading usage…"}
      </Typography.Text>
    );
  }
  const host = (id: string) => kernels.find((k) => k.id === id)?.cluster_hostname ?? id.slice(0, 8);
  return (
    <Space direction="vertical" size={8} style={{ width: "100%" }} data-testid="session-usage">
      {usage.kernels.map((k) => (
        <div key={k.kernel_id} data-testid={`kernel-usage-${host(k.kernel_id)}`}>
          {usage.kernels.length > 1 && (
            <Typography.Text strong>
              {host(k.kernel_id)} <Typography.Text type="secondary">({k.role})</Typography.Text>
            </Typography.Text>
          )}
          <KernelFigures kernel={k} />
        </div>
      ))}
      {failed && (
        <Typography.Text type="secondary" style={{ fontSize: 12 }}>
          The last update failed; these figures may be old.
        </Typography.Text>
      )}
    </Space>
  );
}

function KernelFigures({ kernel: k }: { kernel: KernelUsage }) {
  const p = k.latest;
  if (!p) return <Typography.Text type="secondary">No sample yet.</Typography.Text>;
  const s = k.series;
  const memLimit = p.mem_limit ?? null;
  return (
    <div className="usage-grid">
      <Figure label="CPU" testId="usage-cpu" value={cpuText(p.cpu_percent)} hint="Percent of one core">
        <Sparkline label="CPU over time" series={[seriesOf(s, (x) => x.cpu_percent)]} floor={100} />
      </Figure>
      <Figure label="Memory" testId="usage-mem" value={memText(p.mem_bytes, memLimit)}>
        <Sparkline label="Memory over time" series={[seriesOf(s, (x) => x.mem_bytes)]} max={memLimit} />
      </Figure>
      <Figure
        label="Network"
        testId="usage-net"
        value={`↓ ${rateText(p.net_rx_rate)} ↑ ${rateText(p.net_tx_rate)}`}
        hint={`Received and sent per second (blue, orange); in total ${formatBytes(p.net_rx)} and ${formatBytes(p.net_tx)}`}
      >
        <Sparkline
          label="Network over time"
          series={[seriesOf(s, (x) => x.net_rx_rate), seriesOf(s, (x) => x.net_tx_rate)]}
          floor={1024}
        />
      </Figure>
      <Figure
        label="Disk"
        testId="usage-io"
        value={`R ${rateText(p.io_read_rate)} W ${rateText(p.io_write_rate)}`}
        hint={`Read and written per second (blue, orange); in total ${formatBytes(p.io_read)} and ${formatBytes(p.io_write)}`}
      >
        <Sparkline
          label="Disk over time"
          series={[seriesOf(s, (x) => x.io_read_rate), seriesOf(s, (x) => x.io_write_rate)]}
          floor={1024}
        />
      </Figure>
      {hasAccelerator(k) && (
        <Figure
          label="Accelerator"
          testId="usage-accel"
          value={`${cpuText(p.accel_percent)} · ${memText(p.accel_mem_bytes)}`}
          hint="Utilization and memory in use"
        >
          <Sparkline label="Accelerator over time" series={[seriesOf(s, (x) => x.accel_percent)]} floor={100} />
        </Figure>
      )}
    </div>
  );
}

function Figure({ label, value, hint, testId, children }: { label: string; value: string; hint?: string; testId: string; children: ReactNode }) {
  return (
    <div className="usage-figure" data-testid={testId} title={hint}>
      <div className="usage-figure-text">
        <Typography.Text type="secondary" style={{ fontSize: 12 }}>
          {label}
        </Typography.Text>
        <div className="usage-figure-value" data-testid={`${testId}-value`}>
          {value}
        </div>
      </div>
      {children}
    </div>
  );
}
