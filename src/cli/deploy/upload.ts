import { createReadStream, type ReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { ApiError, ConnectionError, type SlipwayApi } from "./client.ts";

/**
 * Uploads the files the server asked for, several at once. A transient failure (connection
 * lost, 408, 429, 5xx) is retried with exponential backoff and jitter; any other 4xx is the
 * server's answer about the file (a digest mismatch, a refused path) and stops the upload at
 * once, with that answer. Each attempt reads the file again, so nothing large is held in memory.
 */

export interface UploadItem {
  path: string;
  absolute: string;
  size: number;
}

export interface UploadOptions {
  /** Uploads in flight at once (default 8). */
  concurrency?: number;
  /** Further attempts after a transient failure (default 5). */
  retries?: number;
  /** First backoff delay; it doubles each time, up to 10 s (default 500 ms). */
  backoffMs?: number;
  onUploaded?: (done: number) => void;
  /** Told before each retry (for the progress display). */
  onRetry?: (item: UploadItem, attempt: number, error: Error) => void;
}

/** Files up to this size are sent from memory; larger ones are streamed from disk. */
const BUFFER_LIMIT = 16 * 1024 * 1024;
const MAX_BACKOFF_MS = 10_000;

function isTransient(error: unknown): boolean {
  return (error as { transient?: unknown }).transient === true;
}

async function body(item: UploadItem): Promise<Buffer | ReadStream> {
  if (item.size <= BUFFER_LIMIT) return readFile(item.absolute);
  return createReadStream(item.absolute);
}

export async function uploadFiles(
  api: SlipwayApi,
  deployId: string,
  items: readonly UploadItem[],
  options: UploadOptions = {},
): Promise<void> {
  const { concurrency = 8, retries = 5, backoffMs = 500 } = options;
  let next = 0;
  let done = 0;
  let failure: Error | undefined;

  const uploadOne = async (item: UploadItem): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await api.uploadFile(deployId, item.path, await body(item), item.size);
        return;
      } catch (error) {
        if (!isTransient(error) || attempt >= retries || failure !== undefined) {
          throw describe(item, error);
        }
        options.onRetry?.(item, attempt + 1, error as Error);
        const delay = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** attempt);
        await sleep(delay / 2 + Math.random() * (delay / 2));
      }
    }
  };

  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await uploadOne(item);
        options.onUploaded?.(++done);
      } catch (error) {
        failure ??= error as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  if (failure !== undefined) throw failure;
}

/** Names the file in the error, keeping its type (and status) for the caller. */
function describe(item: UploadItem, error: unknown): Error {
  const message = `"${item.path}": ${error instanceof Error ? error.message : String(error)}`;
  if (error instanceof ApiError) return new ApiError(error.status, message);
  if (error instanceof ConnectionError) return new ConnectionError(message);
  return new Error(message);
}
