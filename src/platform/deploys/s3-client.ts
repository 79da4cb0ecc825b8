import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import type { S3BlobStoreConfig } from "../../config.ts";

/**
 * The S3 client for `SLIPWAY_BLOB_STORE=s3`. Credentials come from the SDK's default chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or task role) unless the
 * config carries them (tests). Checksums only when an operation requires them: the SDK's
 * default (a CRC32 trailer on every upload, aws-chunked encoding) is refused by many
 * S3-compatible servers, and each blob is verified by its SHA-1 before it is stored anyway.
 */
export function createS3Client(config: S3BlobStoreConfig): S3Client {
  return new S3Client({
    ...(config.region !== undefined ? { region: config.region } : {}),
    ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    ...(config.credentials !== undefined ? { credentials: config.credentials } : {}),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
    // The SDK waits forever by default: a stalled server must fail a deploy or a cold read, not
    // hang it (the timeout is of a silent socket, so long transfers are fine).
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
  });
}

/** Fails at start, with a message an operator can act on, when the bucket is not reachable. */
export async function checkBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const reason =
      status === 404
        ? "it does not exist"
        : status === 403
          ? "access is denied (check the AWS credentials)"
          : (error as Error).message;
    throw new Error(`S3 bucket ${JSON.stringify(bucket)} is not usable: ${reason}`, {
      cause: error,
    });
  }
}

/** Whether an S3 error means "no such object" (HEAD answers a bare 404, GET NoSuchKey). */
export function isS3NotFound(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === "NoSuchKey" || name === "NotFound" || $metadata?.httpStatusCode === 404;
}
