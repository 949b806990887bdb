/**
 * Hand-written SVG charts (no library, nothing fetched): a line chart over time and a
 * horizontal bar chart. Labels go in as text nodes; colours come from CSS classes, so the
 * strict CSP (no inline styles) holds.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

type SvgAttrs = Record<string, string | number>;

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: SvgAttrs = {},
  ...children: (SVGElement | string)[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

/** A "nice" upper bound for an axis (1, 2, 2.5, 5 × 10^n) at or above `max`. */
export function niceMax(max: number): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export interface LineSeries {
  name: string;
  values: number[];
  /** CSS class of the line (colour): series-1 … series-6, target. */
  cls: string;
  dashed?: boolean;
}

export interface LineChartSpec {
  title: string;
  labels: string[];
  series: LineSeries[];
  width?: number;
  height?: number;
}

/** Lines over a shared x axis (time buckets). Every point carries a <title> tooltip. */
export function lineChart(spec: LineChartSpec): SVGSVGElement {
  const width = spec.width ?? 560;
  const height = spec.height ?? 240;
  const pad = { left: 56, right: 16, top: 16, bottom: 40 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const n = spec.labels.length;
  const max = niceMax(Math.max(0, ...spec.series.flatMap((s) => s.values)));
  const x = (i: number): number => pad.left + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v: number): number => pad.top + plotH - (v / max) * plotH;

  const root = svg('svg', {
    class: 'chart line-chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `${spec.title}: ${spec.series
      .map((s) => `${s.name} ${formatNumber(s.values[s.values.length - 1] ?? 0)}`)
      .join(', ')}`,
  });
  root.appendChild(svg('title', {}, spec.title));
  const grid = svg('g', { class: 'grid' });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    grid.appendChild(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
    grid.appendChild(
      svg('text', { x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, formatNumber(v)),
    );
  }
  root.appendChild(grid);
  const every = Math.max(1, Math.ceil(n / 8));
  const xAxis = svg('g', { class: 'x-axis' });
  spec.labels.forEach((label, i) => {
    // Every `every`-th label, and the last one unless it would overlap its neighbour.
    if (i === n - 1 ? i % every !== 0 && i % every < every / 2 : i % every !== 0) return;
    // The last label ends at its point, so that it stays inside the chart.
    const anchor = i === n - 1 && n > 1 ? 'end' : i === 0 && n > 1 ? 'start' : 'middle';
    xAxis.appendChild(svg('text', { x: x(i), y: height - pad.bottom + 18, 'text-anchor': anchor, class: 'tick' }, label));
  });
  root.appendChild(xAxis);
  for (const s of spec.series) {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const g = svg('g', { class: `series ${s.cls}`, 'data-series': s.name });
    g.appendChild(svg('polyline', { points, fill: 'none', class: s.dashed ? 'dashed' : '' }));
    s.values.forEach((v, i) => {
      if (n > 60 && i !== n - 1) return;
      g.appendChild(
        svg('circle', { cx: x(i), cy: y(v), r: 3 }, svg('title', {}, `${s.name}, ${spec.labels[i] ?? ''}: ${formatNumber(v)}`)),
      );
    });
    root.appendChild(g);
  }
  return root;
}

export interface Bar {
  label: string;
  value: number | null;
  /** Shown at the end of the bar; default: the formatted value. */
  display?: string;
  cls?: string;
}

export interface BarChartSpec {
  title: string;
  bars: Bar[];
  /** Fixed scale (e.g. 1 for fractions); default: a nice bound of the largest value. */
  max?: number;
  width?: number;
}

/** Horizontal bars, one row per label. A null value is drawn as "no data". */
export function barChart(spec: BarChartSpec): SVGSVGElement {
  const width = spec.width ?? 560;
  const row = 28;
  const labelW = 140;
  const valueW = 130;
  const height = Math.max(1, spec.bars.length) * row + 8;
  const max = spec.max ?? niceMax(Math.max(0, ...spec.bars.map((b) => b.value ?? 0)));
  const plotW = width - labelW - valueW;
  const root = svg('svg', {
    class: 'chart bar-chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `${spec.title}: ${spec.bars.map((b) => `${b.label} ${b.display ?? formatNumber(b.value ?? NaN)}`).join(', ')}`,
  });
  root.appendChild(svg('title', {}, spec.title));
  spec.bars.forEach((b, i) => {
    const top = 4 + i * row;
    const g = svg('g', { class: `bar ${b.cls ?? 'series-1'}`, 'data-label': b.label });
    const label = b.label.length > 20 ? `${b.label.slice(0, 19)}…` : b.label;
    g.appendChild(svg('text', { x: labelW - 8, y: top + row / 2 + 4, 'text-anchor': 'end', class: 'label' }, label));
    g.appendChild(svg('rect', { x: labelW, y: top + 4, width: plotW, height: row - 8, class: 'track' }));
    if (b.value !== null && Number.isFinite(b.value)) {
      const w = Math.max(0, Math.min(1, max > 0 ? b.value / max : 0)) * plotW;
      g.appendChild(svg('rect', { x: labelW, y: top + 4, width: w.toFixed(1), height: row - 8, class: 'fill' }));
    }
    g.appendChild(
      svg(
        'text',
        { x: labelW + plotW + 8, y: top + row / 2 + 4, class: 'value' },
        b.value === null ? (b.display ?? 'no data') : (b.display ?? formatNumber(b.value)),
      ),
    );
    g.appendChild(svg('title', {}, `${b.label}: ${b.display ?? (b.value === null ? 'no data' : formatNumber(b.value))}`));
    root.appendChild(g);
  });
  return root;
}

/** A small legend (coloured swatch + name) for a line chart. */
export function legend(series: readonly Pick<LineSeries, 'name' | 'cls'>[]): HTMLElement {
  const ul = document.createElement('ul');
  ul.className = 'chart-legend';
  for (const s of series) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch ${s.cls}`;
    li.append(sw, document.createTextNode(s.name));
    ul.appendChild(li);
  }
  return ul;
}

/** Running totals, starting from `start`. */
export function cumulative(values: readonly number[], start = 0): number[] {
  let acc = start;
  return values.map((v) => (acc += v));
}
