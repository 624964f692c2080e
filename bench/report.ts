/**
 * Plain-text tables for the benchmark's stdout: aligned columns, numbers with thousands
 * separators, so the output can be pasted into docs/performance.md as is.
 */

/** A cell: a number is formatted, a string printed as given, null printed as an em dash. */
export type Cell = number | string | null;

/** Formats `value` with `digits` decimals and thousands separators. */
export function num(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `omnibus ÷ baseline` as `0.12×`, or null when either side is missing. */
export function ratio(omnibus: number | null, baseline: number | null): string | null {
  if (omnibus === null || baseline === null || baseline === 0) return null;
  const r = omnibus / baseline;
  return `${r >= 10 ? num(r, 0) : r >= 1 ? num(r, 1) : num(r, 2)}×`;
}

/** Renders a table with a header row, `|`-separated, columns after the first right-aligned. */
export function table(header: string[], rows: Cell[][]): string {
  const text = [header, ...rows.map((row) => row.map((cell) => (cell === null ? '—' : typeof cell === 'number' ? num(cell, cell < 100 && !Number.isInteger(cell) ? 1 : 0) : cell)))];
  const widths = header.map((_, column) => Math.max(...text.map((row) => [...(row[column] ?? '')].length)));
  const pad = (cell: string, column: number) => {
    const gap = ' '.repeat(widths[column]! - [...cell].length);
    return column === 0 ? cell + gap : gap + cell;
  };
  const lines = text.map((row) => `| ${row.map((cell, column) => pad(cell ?? '', column)).join(' | ')} |`);
  // Markdown alignment row: first column left, the figures right.
  lines.splice(1, 0, `|${widths.map((w, column) => (column === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  return lines.join('\n');
}
