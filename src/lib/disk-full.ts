/**
 * Whether `error` says the disk (or the user's quota on it) is full: a file write's ENOSPC or
 * EDQUOT, or SQLite's SQLITE_FULL. Such a failure is the machine's, not the request's: the one
 * operation fails with "the disk is full", and nothing already stored is touched.
 */
export function isDiskFullError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}
