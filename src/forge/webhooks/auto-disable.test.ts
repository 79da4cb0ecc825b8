import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultWebhookPolicy } from "../../config.ts";
import { alertStatus, healthAfterFailure, isExecutable, retryAt } from "./auto-disable.ts";

const policy = defaultWebhookPolicy();
const now = new Date("2025-01-01T00:00:00.000Z");
const minutes = (n: number): string => new Date(now.getTime() + n * 60_000).toISOString();

describe("auto-disabling (GitLab's thresholds by default)", () => {
  it("counts failures without backing off up to the threshold", () => {
    let health = { recent_failures: 0, disabled_until: null as string | null };
    for (let i = 1; i <= 3; i++) {
      const next = healthAfterFailure(health, policy, now);
      assert.ok(next);
      assert.equal(next.recent_failures, i);
      assert.equal(next.disabled_until, null);
      health = next;
    }
    assert.equal(alertStatus(health, policy, now), "executable");
  });

  it("backs off 1 min after the 4th failure, doubling, capped at a day", () => {
    const fourth = healthAfterFailure({ recent_failures: 3, disabled_until: null }, policy, now);
    assert.deepEqual(fourth, { recent_failures: 4, backoff_count: 1, disabled_until: minutes(1) });
    assert.equal(alertStatus(fourth!, policy, now), "temporarily_disabled");
    assert.equal(isExecutable(fourth!, policy, now), false);
    assert.equal(isExecutable(fourth!, policy, new Date(Date.parse(minutes(2)))), true);
    const past = { recent_failures: 4, disabled_until: minutes(-1) };
    assert.equal(healthAfterFailure(past, policy, now)?.disabled_until, minutes(2));
    const late = { recent_failures: 30, disabled_until: minutes(-1) };
    assert.equal(healthAfterFailure(late, policy, now)?.disabled_until, minutes(24 * 60));
  });

  it("disables permanently after the 40th failure", () => {
    const last = healthAfterFailure(
      { recent_failures: 39, disabled_until: minutes(-1) },
      policy,
      now,
    );
    assert.equal(last?.recent_failures, 40);
    assert.equal(alertStatus(last!, policy, now), "disabled");
    assert.equal(healthAfterFailure(last!, policy, now), null, "a disabled hook stays as it is");
  });

  it("does not count failures of a hook that is backed off", () => {
    const backedOff = { recent_failures: 5, disabled_until: minutes(10) };
    assert.equal(healthAfterFailure(backedOff, policy, now), null);
  });

  it("spaces retries exponentially from retryDelayMs", () => {
    const at = (n: number): number => retryAt(n, policy, now).getTime() - now.getTime();
    assert.deepEqual([at(1), at(2), at(3)], [10_000, 20_000, 40_000]);
  });
});
