/**
 * Plain SVG charts for bench/REPORT.md and the README: grouped bars and dot strips, self-contained (white background,
 * system fonts), so that GitHub renders them as images in light and dark mode alike.
 */

const FONT = "font-family='-apple-system, BlinkMacSystemFont, Segoe UI, Helvetica, Arial, sans-serif'";
export const COLORS = { ours: '#1f77b4', baseline: '#bbbbbb', baselineStrong: '#d62728' } as const;

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fixed = (value: number): string => (Math.round(value * 10) / 10).toString();

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x='${fixed(x)}' y='${fixed(y)}' ${attributes}>${escape(content)}</text>`;
}

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${width}' height='${height}' viewBox='0 0 ${width} ${height}' ${FONT} font-size='13' role='img' aria-label='${escape(title)}'>`,
    `<title>${escape(title)}</title>`,
    `<rect width='${width}' height='${height}' fill='#ffffff'/>`,
    text(16, 26, title, "font-size='16' font-weight='600' fill='#222'"),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(x: number, y: number, entries: ReadonlyArray<{ label: string; color: string }>): string[] {
  const parts: string[] = [];
  let at = x;
  for (const entry of entries) {
    parts.push(`<rect x='${fixed(at)}' y='${fixed(y - 10)}' width='12' height='12' rx='2' fill='${entry.color}'/>`);
    parts.push(text(at + 18, y, entry.label, "fill='#333'"));
    at += 30 + entry.label.length * 7;
  }
  return parts;
}

/** Axis ticks from 0: a round step (1, 2, 2.5 or 5 × 10ⁿ) giving at most `count` intervals up to past `max`. */
function niceTicks(max: number, count: number): number[] {
  const raw = Math.max(max, 1e-9) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= raw)!;
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  return Array.from({ length: Math.round(top / step) + 1 }, (_, index) => index * step);
}

const tickLabel = (value: number): string => (Math.round(value * 1000) / 1000).toString();

export interface BarGroup {
  readonly label: string;
  readonly bars: ReadonlyArray<{ readonly value: number; readonly color: string }>;
}

/** Grouped vertical bars, each with its value on top. */
export function barChart(options: {
  title: string;
  subtitle?: string;
  yLabel: string;
  groups: readonly BarGroup[];
  legend: ReadonlyArray<{ label: string; color: string }>;
}): string {
  const width = 720;
  const height = 400;
  const left = 64;
  const right = 24;
  const top = 100;
  const bottom = 48;
  const plotHeight = height - top - bottom;
  const plotWidth = width - left - right;
  const ticks = niceTicks(Math.max(...options.groups.flatMap((group) => group.bars.map((bar) => bar.value))), 5);
  const max = ticks.at(-1)!;
  const y = (value: number): number => top + plotHeight * (1 - value / max);
  const body: string[] = [];
  if (options.subtitle) body.push(text(16, 46, options.subtitle, "fill='#555'"));
  body.push(...legend(left, 66, options.legend));
  for (const value of ticks) {
    body.push(`<line x1='${left}' x2='${width - right}' y1='${fixed(y(value))}' y2='${fixed(y(value))}' stroke='#e5e5e5'/>`);
    body.push(text(left - 8, y(value) + 4, tickLabel(value), "text-anchor='end' fill='#666'"));
  }
  body.push(text(18, top + plotHeight / 2, options.yLabel, `fill='#444' text-anchor='middle' transform='rotate(-90 18 ${fixed(top + plotHeight / 2)})'`));
  const groupWidth = plotWidth / options.groups.length;
  for (const [index, group] of options.groups.entries()) {
    const barWidth = Math.min(56, (groupWidth * 0.7) / group.bars.length);
    const start = left + groupWidth * index + (groupWidth - barWidth * group.bars.length) / 2;
    for (const [position, bar] of group.bars.entries()) {
      const x = start + barWidth * position;
      const barHeight = Math.max(2, top + plotHeight - y(bar.value));
      body.push(`<rect x='${fixed(x + 2)}' y='${fixed(top + plotHeight - barHeight)}' width='${fixed(barWidth - 4)}' height='${fixed(barHeight)}' rx='2' fill='${bar.color}'/>`);
      body.push(text(x + barWidth / 2, top + plotHeight - barHeight - 6, fixed(bar.value), "text-anchor='middle' font-weight='600' fill='#222'"));
    }
    body.push(text(left + groupWidth * (index + 0.5), height - bottom + 22, group.label, "text-anchor='middle' fill='#333'"));
  }
  body.push(`<line x1='${left}' x2='${width - right}' y1='${top + plotHeight}' y2='${top + plotHeight}' stroke='#999'/>`);
  return frame(width, height, options.title, body);
}

export interface Strip {
  readonly label: string;
  readonly values: readonly number[];
  readonly color: string;
}

/** One row of dots per strip on a shared horizontal axis, with each strip's median as a bar and its value. */
export function stripChart(options: { title: string; subtitle?: string; xLabel: string; strips: readonly Strip[] }): string {
  const width = 720;
  const rowHeight = 40;
  const left = 190;
  const right = 70;
  const top = 78;
  const height = top + rowHeight * options.strips.length + 56;
  const plotWidth = width - left - right;
  const ticks = niceTicks(Math.max(...options.strips.flatMap((strip) => strip.values)), 6);
  const max = ticks.at(-1)!;
  const x = (value: number): number => left + (plotWidth * value) / max;
  const body: string[] = [];
  if (options.subtitle) body.push(text(16, 46, options.subtitle, "fill='#555'"));
  const bottom = top + rowHeight * options.strips.length;
  for (const value of ticks) {
    body.push(`<line x1='${fixed(x(value))}' x2='${fixed(x(value))}' y1='${top}' y2='${bottom}' stroke='#e5e5e5'/>`);
    body.push(text(x(value), bottom + 16, tickLabel(value), "text-anchor='middle' fill='#666'"));
  }
  body.push(text(left + plotWidth / 2, bottom + 36, options.xLabel, "text-anchor='middle' fill='#444'"));
  for (const [index, strip] of options.strips.entries()) {
    const middle = top + rowHeight * (index + 0.5);
    body.push(text(left - 10, middle + 4, strip.label, "text-anchor='end' fill='#333'"));
    // Deterministic jitter, so that the SVG does not change between two writes of the same data.
    for (const [position, value] of strip.values.entries()) {
      const jitter = (((position * 7919) % 13) / 12 - 0.5) * (rowHeight * 0.5);
      body.push(`<circle cx='${fixed(x(value))}' cy='${fixed(middle + jitter)}' r='3' fill='${strip.color}' fill-opacity='0.55'/>`);
    }
    const sorted = [...strip.values].sort((a, b) => a - b);
    const median = sorted.length === 0 ? 0 : (sorted[Math.floor((sorted.length - 1) / 2)]! + sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2;
    body.push(`<line x1='${fixed(x(median))}' x2='${fixed(x(median))}' y1='${fixed(middle - rowHeight * 0.4)}' y2='${fixed(middle + rowHeight * 0.4)}' stroke='#222' stroke-width='2.5'/>`);
    body.push(text(width - right + 8, middle + 4, `${fixed(median)}`, "fill='#222' font-weight='600'"));
  }
  body.push(text(width - right + 8, top - 8, 'median', "fill='#666' font-size='11'"));
  return frame(width, height, options.title, body);
}
