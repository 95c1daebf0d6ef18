// Charts drawn with uPlot (small, canvas). This module is loaded only by the pages that draw a
// chart, so uPlot never weighs on the others. Axes say their unit; every chart has a text
// alternative (the table beside it carries the same numbers).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatDate } from "./i18n/time";

export interface ChartProps {
  title: string;
  /** What the x axis counts, for the legend ("设区市", "日期"). */
  xLabel: string;
  /** x: seconds since the epoch (time axis) or 0..n-1 with `labels` (category axis). */
  x: number[];
  series: { label: string; values: (number | null)[]; color: string }[];
  labels?: string[];
  bars?: boolean;
  /** Shown as percent (0..1 values). */
  percent?: boolean;
  height?: number;
}

export const palette = ["#0a58a8", "#b35c00", "#0d6b36", "#7a2e8f", "#a61b16", "#3d6f7a"];

function options(p: ChartProps, width: number): uPlot.Options {
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  const bars = p.bars ? uPlot.paths.bars!({ size: [0.6, 48] }) : undefined;
  return {
    title: p.title,
    width,
    height: p.height ?? 260,
    scales: {
      x: p.labels ? { time: false, range: [-0.6, p.x.length - 0.4] } : { time: true },
      y: { range: p.percent ? [0, 1] : undefined },
    },
    axes: [
      p.labels
        ? { splits: () => p.x, values: (_u, splits) => splits.map((i) => p.labels![Math.round(i)] ?? ""), gap: 4, size: 64, rotate: -40, font: "12px sans-serif" }
        : { values: (_u, splits) => splits.map((s) => formatDate(s * 1000).slice(5)) },
      { values: (_u, splits) => splits.map((v) => (p.percent ? pct(v) : String(v))), size: 56 },
    ],
    series: [
      { label: p.xLabel, value: (_u, v) => (v == null ? "—" : p.labels ? (p.labels[Math.round(v)] ?? "") : formatDate(v * 1000)) },
      ...p.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        fill: p.bars ? `${s.color}cc` : undefined,
        width: 2,
        paths: bars,
        points: { show: !p.bars },
        value: (_u: uPlot, v: number | null) => (v == null ? "—" : p.percent ? pct(v) : String(v)),
      })),
    ],
    legend: { show: true },
  };
}

export function Chart(p: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(options(p, width()), [p.x, ...p.series.map((s) => s.values)] as uPlot.AlignedData, el);
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: p.height ?? 260 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [p.title, p.x, p.series, p.labels, p.bars, p.percent]);
  return <div class="chart" ref={box} role="img" aria-label={p.title} />;
}
