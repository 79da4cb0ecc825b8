import assert from "node:assert/strict";
import { systemResolver } from "../../src/platform/repos/host-guard.ts";
import { createProviderHttp, type ProviderHttp } from "../../src/platform/providers/http.ts";
import { ProviderError, type ProviderErrorKind } from "../../src/platform/providers/types.ts";

/** Helpers for the adapters' tests, which run against fakes (and the forge) on this machine. */

/** Provider HTTP that may reach 127.0.0.1, where the fakes listen (on `port` only, when given). */
export function loopbackHttp(port?: string): ProviderHttp {
  return createProviderHttp({
    resolveHost: systemResolver,
    allowedPrivateHosts: [port ? `127.0.0.1:${port}` : "127.0.0.1"],
  });
}

/**
 * A check of refusals: `promise` must reject with a `ProviderError` of `kind` whose message and
 * hint match (when given), whose hint says what to do, and which names none of `secrets` (the
 * tests add the credentials they make).
 */
export function refusalCheck(secrets: readonly string[] = []) {
  return async (
    promise: Promise<unknown>,
    kind: ProviderErrorKind,
    message?: RegExp,
    hint?: RegExp,
  ): Promise<ProviderError> => {
    const error = await promise.then(
      () => assert.fail(`expected a ${kind} refusal`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ProviderError, `not a ProviderError: ${String(error)}`);
    assert.equal(error.kind, kind, `${error.message} — ${error.hint}`);
    if (message) assert.match(error.message, message);
    if (hint) assert.match(error.hint, hint);
    assert.ok(error.hint.length > 10, "a refusal carries a hint");
    for (const secret of secrets) {
      assert.ok(!`${error.message} ${error.hint}`.includes(secret), "a credential leaked");
    }
    return error;
  };
}
