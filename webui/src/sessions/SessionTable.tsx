import { Button, Empty, Grid, Space, Table, Tooltip, Typography } from "antd";
import type { Breakpoint } from "antd";
import type { ColumnsType, TablePaginationConfig } from "antd/es/table";
import type { SorterResult } from "antd/es/table/interface";
import type { ReactNode } from "react";
import AppButtons, { appsBlocker } from "../apps/AppButtons";
import { formatBytes, formatCpu, formatTime, timezoneName } from "../format";
import { ENDED, type Session } from "../types";
import { acceleratorText } from "../launcher/resources";
import { AgentCell } from "./AgentCell";
import Elapsed from "./Elapsed";
import OutcomeTag from "./OutcomeTag";
import { PAGE_SIZES, sortPage, type ListView, type SortOrder } from "./query";
import { queueInfo } from "./queue";
import StatusTag from "./StatusTag";
import { listUsage } from "./usage";

interface Props {
  items: Session[];
  total: number;
  loading: boolean;
  view: ListView;
  showOwner: boolean;
  selected: string[];
  empty: ReactNode;
  onSelect: (ids: string[]) => void;
  onView: (patch: Partial<ListView>) => void;
  onOpen: (id: string) => void;
  /** The logged-in user: apps are for the owner. */
  userId: string;
  /** Open the app launcher of a session. */
  onApps: (session: Session) => void;
}

const ORDER: Record<SortOrder, "ascend" | "descend"> = { asc: "ascend", desc: "descend" };
const BUILTIN = new Set(["cpu", "mem", "shmem"]);

/** The accelerator slots a session asked for (every requested slot beyond cpu/mem/shmem). */
function acceleratorsOf(s: Session): [string, string][] {
  return Object.entries(s.requested).filter(([k, v]) => !BUILTIN.has(k) && Number(v) > 0);
}
/** Columns shown from a small tablet up (antd breakpoint sm, 576 px). */
const WIDE: Breakpoint[] = ["sm"];

export default function SessionTable(props: Props) {
  const { view } = props;
  // Below the sm breakpoint (a phone) the narrow columns below fill the screen, unscrolled.
  const phone = Grid.useBreakpoint().sm === false;
  const sortable = (key: string) => ({
    key,
    sorter: true,
    sortOrder: view.sort === key ? ORDER[view.order] : null,
    sortDirections: ["ascend", "descend", "ascend"] as ("ascend" | "descend")[],
  });

  // On a phone only name, status (result) and apps fit; the rest is in the detail panel.
  const columns: ColumnsType<Session> = [
    {
      title: "Name",
      dataIndex: "name",
      ...sortable("name"),
      width: phone ? 100 : 160,
      ellipsis: true,
      render: (name: string, s) => (
        <Button
          type="link"
          style={{ padding: 0, height: "auto" }}
          onClick={() => props.onOpen(s.id)}
          data-testid="session-name"
        >
          {name}
        </Button>
      ),
    },
    {
      title: "Status",
      dataIndex: "status",
      ...sortable("status"),
      width: phone ? 108 : 125,
      // Finished sessions show their result instead on a phone.
      responsive: view.state === "finished" ? WIDE : undefined,
      render: (_: string, s) => {
        const q = queueInfo(s as Session & { queue_position?: number | null });
        if (s.status !== "PENDING") return <StatusTag status={s.status} info={s.status_info} />;
        return (
          <Tooltip title={q.reason}>
            <Space direction="vertical" size={0} data-testid="pending-status">
              <StatusTag status={s.status} />
              {q.position !== null && (
                <Typography.Text type="secondary" style={{ fontSize: 12, whiteSpace: "nowrap" }} data-testid="queue-position">
                  #{q.position} in queue
                </Typography.Text>
              )}
            </Space>
          </Tooltip>
        );
      },
    },
    ...(view.state === "finished"
      ? [
          {
            title: "Result",
            key: "result",
            width: 150,
            render: (_: unknown, s: Session) => <OutcomeTag session={s} />,
          },
        ]
      : []),
    {
      title: "Type",
      responsive: WIDE,
      dataIndex: "type",
      ...sortable("type"),
      width: 90,
      render: (t: string) => t.charAt(0).toUpperCase() + t.slice(1),
    },
    {
      title: "Environment",
      responsive: WIDE,
      dataIndex: "image",
      ...sortable("image"),
      width: 150,
      ellipsis: { showTitle: true },
    },
    {
      title: "CPU",
      responsive: WIDE,
      ...sortable("cpu"),
      width: 95,
      render: (_: unknown, s) => {
        const used = listUsage(s);
        return used ? (
          <Tooltip title={`CPU in use now: ${used.cpu} (100% is one core); ${formatCpu(s.requested.cpu)} requested`}>
            <span className="list-usage" data-testid="list-cpu">
              <span>{used.cpu}</span>
              <span className="list-usage-sub">of {formatCpu(s.requested.cpu)}</span>
            </span>
          </Tooltip>
        ) : (
          <RequestedCell running={s.status === "RUNNING"} text={formatCpu(s.requested.cpu)} testId="list-cpu" />
        );
      },
    },
    {
      title: "Memory",
      responsive: WIDE,
      ...sortable("mem"),
      width: 105,
      render: (_: unknown, s) => {
        const used = listUsage(s);
        return used ? (
          <Tooltip title={`Memory in use now: ${used.mem}; ${formatBytes(s.requested.mem)} requested`}>
            <span className="list-usage" data-testid="list-mem">
              <span>{used.mem}</span>
              <span className="list-usage-sub">of {formatBytes(s.requested.mem)}</span>
            </span>
          </Tooltip>
        ) : (
          <RequestedCell running={s.status === "RUNNING"} text={formatBytes(s.requested.mem)} testId="list-mem" />
        );
      },
    },
    // Accelerators: a column only when some session on the page asked for one.
    ...(props.items.some((s) => acceleratorsOf(s).length)
      ? [{
          title: "Accelerator",
          key: "accelerator",
          responsive: WIDE,
          width: 150,
          ellipsis: { showTitle: true },
          render: (_: unknown, s: Session) =>
            acceleratorsOf(s).map(([slot, amount]) => acceleratorText(slot, Number(amount))).join(", ") || "-",
        }]
      : []),
    {
      title: <Tooltip title={`Times in your timezone (${timezoneName()})`}>Elapsed</Tooltip>,
      responsive: WIDE,
      ...sortable("elapsed"),
      width: 85,
      render: (_: unknown, s) => (
        <Tooltip
          title={
            <>
              Created {formatTime(s.created_at)}
              <br />
              Started {formatTime(s.started_at)}
              {s.terminated_at && (
                <>
                  <br />
                  Ended {formatTime(s.terminated_at)}
                </>
              )}
            </>
          }
        >
          <span>
            <Elapsed session={s} />
          </span>
        </Tooltip>
      ),
    },
    {
      title: "Agent",
      responsive: WIDE,
      dataIndex: "agent_id",
      ...sortable("agent"),
      width: 120,
      ellipsis: true,
      render: (_: string | null, s) => <AgentCell session={s} />,
    },
    ...(props.showOwner
      ? [
          {
            title: "Owner",
            responsive: WIDE,
            dataIndex: "owner_email",
            ...sortable("owner"),
            width: 150,
            ellipsis: true,
          },
        ]
      : []),
    {
      title: "Apps",
      key: "apps",
      width: phone ? 76 : 90,
      fixed: phone ? undefined : "right",
      responsive: view.state === "finished" ? WIDE : undefined, // ended sessions have no apps
      render: (_: unknown, s) =>
        appsBlocker(s, props.userId) === null ? (
          <Space size={4}>
            <AppButtons session={s} userId={props.userId} size="small" compact onApps={() => props.onApps(s)} />
          </Space>
        ) : null,
    },
  ];

  const onChange = (
    pagination: TablePaginationConfig,
    _filters: unknown,
    sorter: SorterResult<Session> | SorterResult<Session>[],
  ) => {
    const one = Array.isArray(sorter) ? sorter[0] : sorter;
    const patch: Partial<ListView> = {
      page: pagination.current ?? 1,
      size: pagination.pageSize ?? view.size,
    };
    if (one && one.columnKey) {
      const order = one.order === "ascend" ? "asc" : one.order === "descend" ? "desc" : null;
      patch.sort = order ? String(one.columnKey) : "created";
      patch.order = order ?? "desc";
      if (patch.sort !== view.sort || patch.order !== view.order) patch.page = 1;
    }
    props.onView(patch);
  };

  return (
    <Table<Session>
      rowKey="id"
      size="middle"
      columns={columns}
      dataSource={sortPage(props.items, view)}
      loading={props.loading}
      onChange={onChange}
      scroll={phone ? undefined : { x: 1100 }}
      locale={{ emptyText: props.loading ? <div style={{ height: 120 }} /> : props.empty }}
      rowSelection={{
        selectedRowKeys: props.selected,
        onChange: (keys) => props.onSelect(keys.map(String)),
        getCheckboxProps: (s) => ({
          disabled: ENDED.has(s.status),
          "aria-label": `select ${s.name}`,
        }),
      }}
      pagination={{
        current: view.page,
        pageSize: view.size,
        total: props.total,
        showSizeChanger: true,
        pageSizeOptions: PAGE_SIZES,
        showTotal: (total, [from, to]) => `${from}-${to} of ${total}`,
      }}
    />
  );
}

/** A CPU or Memory cell without live figures: what was requested, under a dash for a RUNNING
 * session that has sent no sample yet. */
function RequestedCell({ running, text, testId }: { running: boolean; text: string; testId: string }) {
  if (!running) return <span data-testid={testId}>{text}</span>;
  return (
    <Tooltip title={`No usage figures yet (${text} requested)`}>
      <span className="list-usage" data-testid={testId}>
        <span>-</span>
        <span className="list-usage-sub">of {text}</span>
      </span>
    </Tooltip>
  );
}

export function EmptySessions({ text, action }: { text: string; action?: ReactNode }) {
  return (
    <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={text}>
      {action}
    </Empty>
  );
}
