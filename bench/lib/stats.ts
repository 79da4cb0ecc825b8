export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(samples: readonly number[]): Summary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] ?? 0)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0, n: sorted.length };
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** "630 (527–769)" in ms. */
export function formatSummary(s: Summary | undefined): string {
  if (!s) return "n/a";
  return `${int.format(s.median)} (${int.format(s.min)}–${int.format(s.max)})`;
}

export function formatRatio(
  numerator: Summary | undefined,
  denominator: Summary | undefined,
): string {
  const r = ratio(numerator, denominator);
  return r === undefined ? "n/a" : `${r.toFixed(2)}×`;
}

export function ratio(
  numerator: Summary | undefined,
  denominator: Summary | undefined,
): number | undefined {
  if (!numerator || !denominator || denominator.median <= 0) return undefined;
  return numerator.median / denominator.median;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? "").length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, col) => {
        const width = widths[col] ?? 0;
        return col === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}
