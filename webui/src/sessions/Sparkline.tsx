import { scaleMax, sparkPath, type Series } from "./usage";

interface Props {
  /** One or two series (e.g. received and sent), oldest first. */
  series: Series[];
  /** The top of the scale is at least this (100 for a percentage). */
  floor?: number;
  /** A fixed top of the scale (a memory limit), else the largest value. */
  max?: number | null;
  width?: number;
  height?: number;
  colors?: string[];
  label: string;
}

const COLORS = ["#1677ff", "#fa8c16"];

/** A tiny line chart of recent samples (no axes: the figure next to it gives the scale). */
export default function Sparkline({ series, floor = 0, max, width = 96, height = 22, colors = COLORS, label }: Props) {
  const top = max && max > 0 ? max : scaleMax(series, floor);
  return (
    <svg
      className="sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={label}
      data-testid="sparkline"
    >
      <line x1={0} x2={width} y1={height - 0.5} y2={height - 0.5} stroke="#f0f0f0" />
      {series.map((s, i) => (
        <path
          key={i}
          d={sparkPath(s, width, height, top)}
          fill="none"
          stroke={colors[i % colors.length]}
          strokeWidth={1.5}
          strokeLinejoin="round"
          strokeLinecap="round"
        />
      ))}
    </svg>
  );
}
