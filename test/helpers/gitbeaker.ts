import { GitbeakerRequestError } from "@gitbeaker/rest";
import assert from "node:assert/strict";

/**
 * Runs a @gitbeaker/rest call expected to fail and returns the HTTP status and GitLab's
 * message, so tests can assert the forge refused it the way GitLab would.
 */
export async function gitbeakerFailure(
  call: () => Promise<unknown>,
): Promise<{ status: number; message: string }> {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof GitbeakerRequestError, String(error));
    return { status: error.cause?.response.status ?? 0, message: error.message };
  }
  assert.fail("the call succeeded");
}
