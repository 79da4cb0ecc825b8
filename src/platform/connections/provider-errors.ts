import type { ErrorKind } from "../../lib/errors.ts";
import { PlatformError } from "../errors.ts";
import { ProviderError } from "../providers/types.ts";

/**
 * A provider's refusal as an API error: Netlify's `{code, message}` plus the provider's `hint`
 * (what to do, in its own terms). A provider that is down or answers 5xx is a 502; a refusal
 * the caller can fix (token, role, path) is a 422.
 */
export class ProviderFailure extends PlatformError {
  override name = "ProviderFailure";

  constructor(
    kind: ErrorKind,
    message: string,
    readonly hint: string,
    field?: string,
  ) {
    super(kind, message, field);
  }

  override get body(): { code: number; message: string; field?: string; hint: string } {
    const base = { code: this.statusCode, message: this.message, hint: this.hint };
    return this.field === undefined ? base : { ...base, field: this.field };
  }
}

/** Maps a `ProviderError` (anything else is rethrown as is). */
export function providerFailure(
  error: unknown,
  options: { field?: string; unavailableKind?: ErrorKind } = {},
): unknown {
  if (!(error instanceof ProviderError)) return error;
  const kind =
    error.kind === "unavailable" ? (options.unavailableKind ?? "bad_gateway") : "unprocessable";
  const message =
    options.field === undefined ? error.message : `${options.field}: ${error.message}`;
  return new ProviderFailure(kind, message, error.hint, options.field);
}

/** Runs a provider call, turning its refusal into an API error. */
export async function asApiError<T>(
  work: Promise<T>,
  options: { field?: string; unavailableKind?: ErrorKind } = {},
): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw providerFailure(error, options);
  }
}
