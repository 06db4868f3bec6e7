import { DownOutlined, UpOutlined } from "@ant-design/icons";
import { Button, Checkbox, Input, Select, Space, Switch, Typography } from "antd";
import { useMemo } from "react";
import { countMatches } from "./highlight";

export interface LogsOptions {
  /** Lines from the end; 0 = all. */
  tail: number;
  autoRefresh: boolean;
  /** Seconds between refreshes. */
  interval: number;
  follow: boolean;
}

interface Props {
  text: string;
  options: LogsOptions;
  onOptions: (patch: Partial<LogsOptions>) => void;
  query: string;
  onQuery: (query: string) => void;
  current: number;
  onCurrent: (index: number) => void;
}

export default function LogsToolbar(props: Props) {
  const { options, onOptions, query, current } = props;
  const matches = useMemo(() => countMatches(props.text, query), [props.text, query]);
  const step = (delta: number) => {
    if (matches) props.onCurrent((current + delta + matches) % matches);
  };

  return (
    <Space wrap style={{ marginBottom: 8, width: "100%", justifyContent: "space-between" }}>
      <Space>
        <Input
          allowClear
          placeholder="Search"
          value={query}
          onChange={(e) => props.onQuery(e.target.value)}
          onPressEnter={(e) => step(e.shiftKey ? -1 : 1)}
          style={{ width: 220 }}
          aria-label="Search the logs"
        />
        <Typography.Text type="secondary" data-testid="match-count" style={{ minWidth: 80 }}>
          {query ? (matches ? `${current + 1} of ${matches}` : "no matches") : ""}
        </Typography.Text>
        <Button size="small" icon={<UpOutlined />} disabled={!matches} onClick={() => step(-1)} aria-label="Previous match" />
        <Button size="small" icon={<DownOutlined />} disabled={!matches} onClick={() => step(1)} aria-label="Next match" />
      </Space>
      <Space wrap>
        <Select
          value={options.tail}
          onChange={(tail) => onOptions({ tail })}
          style={{ width: 160 }}
          aria-label="Lines"
          options={[
            { value: 100, label: "Last 100 lines" },
            { value: 1000, label: "Last 1,000 lines" },
            { value: 10000, label: "Last 10,000 lines" },
            { value: 0, label: "All lines" },
          ]}
        />
        <Space size={4}>
          <Switch
            size="small"
            checked={options.autoRefresh}
            onChange={(autoRefresh) => onOptions({ autoRefresh })}
            aria-label="Auto-refresh"
          />
          <Typography.Text>Auto-refresh every</Typography.Text>
          <Select
            size="small"
            value={options.interval}
            onChange={(interval) => onOptions({ interval })}
            style={{ width: 76 }}
            aria-label="Refresh interval"
            options={[2, 5, 10, 30].map((s) => ({ value: s, label: `${s} s` }))}
          />
        </Space>
        <Checkbox checked={options.follow} onChange={(e) => onOptions({ follow: e.target.checked })}>
          Follow tail
        </Checkbox>
      </Space>
    </Space>
  );
}
