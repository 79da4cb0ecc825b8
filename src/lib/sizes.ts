/**
 * Byte sizes as people write them in settings (`512M`, `2G`, `1.5GiB`, `1048576`) and as
 * messages show them (`2 GiB`, `256 MiB`). Units are binary: K, M, G, T are powers of 1024.
 */

const UNITS = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 } as const;

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i;

/** Bytes, or undefined when `text` is not a size. */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  const unit = match[2]!.toUpperCase() as keyof typeof UNITS;
  const bytes = Math.floor(Number(match[1]) * UNITS[unit]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `2 GiB`, `1.5 GiB`, `256 MiB`, `512 bytes`: the largest unit, at most one decimal. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ["TiB", UNITS.T],
    ["GiB", UNITS.G],
    ["MiB", UNITS.M],
    ["KiB", UNITS.K],
  ] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}
