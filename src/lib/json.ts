/** A JSON object (not null, not an array), to read a parsed body's fields without trusting it. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
