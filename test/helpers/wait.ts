/**
 * Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`
 * with "timed out … waiting for <what>". `what` may be a function, read at the timeout, to show
 * the latest state (a child's output so far).
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string | (() => string),
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const waitingFor = typeof what === "string" ? what : what();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${waitingFor}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `waitUntil` with the slower pace and longer patience that whole-system stories need. */
export function poll<T>(
  check: () => Promise<T | undefined | false>,
  what: string | (() => string),
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  return waitUntil(check, what, timeoutMs, intervalMs);
}
