import type { WebhookPolicy } from "../../config.ts";

/**
 * GitLab's WebHooks::AutoDisabling with the thresholds taken from the forge's WebhookPolicy:
 * after more than `temporaryDisableAfter` consecutive failures a hook is backed off
 * (`temporarily_disabled` until `disabled_until`), after more than `permanentDisableAfter` it is
 * `disabled` until a successful test call re-enables it.
 */

export interface HookHealth {
  recent_failures: number;
  disabled_until: string | null;
}

export type AlertStatus = "executable" | "temporarily_disabled" | "disabled";

export function isTemporarilyDisabled(h: HookHealth, policy: WebhookPolicy, now: Date): boolean {
  return (
    h.disabled_until !== null &&
    Date.parse(h.disabled_until) >= now.getTime() &&
    h.recent_failures > policy.temporaryDisableAfter &&
    h.recent_failures <= policy.permanentDisableAfter
  );
}

export function isPermanentlyDisabled(h: HookHealth, policy: WebhookPolicy): boolean {
  return (
    h.recent_failures > policy.permanentDisableAfter ||
    (h.recent_failures > policy.temporaryDisableAfter && h.disabled_until === null)
  );
}

export function isExecutable(h: HookHealth, policy: WebhookPolicy, now: Date): boolean {
  return !isTemporarilyDisabled(h, policy, now) && !isPermanentlyDisabled(h, policy);
}

export function alertStatus(h: HookHealth, policy: WebhookPolicy, now: Date): AlertStatus {
  if (isTemporarilyDisabled(h, policy, now)) return "temporarily_disabled";
  if (isPermanentlyDisabled(h, policy)) return "disabled";
  return "executable";
}

export interface HealthAfterFailure {
  recent_failures: number;
  backoff_count: number;
  disabled_until: string | null;
}

/**
 * GitLab's `backoff!`: one more consecutive failure, and from the threshold on a backoff of
 * initialBackoff·2^(failures−threshold−1), capped at maxBackoff. Null when the hook is not
 * executable (a failure of a disabled hook's test call changes nothing).
 */
export function healthAfterFailure(
  h: HookHealth,
  policy: WebhookPolicy,
  now: Date,
): HealthAfterFailure | null {
  if (!isExecutable(h, policy, now)) return null;
  const failures = Math.min(h.recent_failures + 1, policy.permanentDisableAfter + 1);
  const over = failures - policy.temporaryDisableAfter;
  if (failures > policy.permanentDisableAfter) {
    return { recent_failures: failures, backoff_count: Math.max(0, over), disabled_until: null };
  }
  if (over <= 0) return { recent_failures: failures, backoff_count: 0, disabled_until: null };
  const backoff = Math.min(policy.initialBackoffMs * 2 ** (over - 1), policy.maxBackoffMs);
  return {
    recent_failures: failures,
    backoff_count: over,
    disabled_until: new Date(now.getTime() + backoff).toISOString(),
  };
}

/** When a delivery that failed `attempts` times is tried again: retryDelay·2^(attempts−1). */
export function retryAt(attempts: number, policy: WebhookPolicy, now: Date): Date {
  return new Date(now.getTime() + policy.retryDelayMs * 2 ** Math.max(0, attempts - 1));
}
