import { paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import type { S3BlobStoreConfig } from "../../src/config.ts";
import { createS3Client } from "../../src/platform/deploys/s3-client.ts";
import { startS3Fake, type S3Fake } from "../fakes/s3/fake.ts";

/**
 * An S3-compatible server for tests: the strict fake in `test/fakes/s3/` on a free loopback
 * port with one bucket, and what `SLIPWAY_BLOB_STORE=s3` against it loads to.
 */
export interface TestS3 {
  fake: S3Fake;
  bucket: string;
  config: S3BlobStoreConfig;
  /** A client of its own, for looking at the bucket behind the store's back. */
  client: S3Client;
  /** Every key in the bucket under `prefix`, sorted, listed through the SDK. */
  keys(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startTestS3(options: { bucket?: string } = {}): Promise<TestS3> {
  const bucket = options.bucket ?? "slipway-test";
  const fake = await startS3Fake({ buckets: [bucket] });
  const config: S3BlobStoreConfig = {
    kind: "s3",
    bucket,
    endpoint: fake.endpoint,
    forcePathStyle: true,
    region: fake.region,
    credentials: fake.credentials,
  };
  const client = createS3Client(config);
  return {
    fake,
    bucket,
    config,
    client,
    async keys(prefix = "") {
      const out: string[] = [];
      for await (const page of paginateListObjectsV2(
        { client },
        { Bucket: bucket, Prefix: prefix },
      )) {
        for (const object of page.Contents ?? []) if (object.Key) out.push(object.Key);
      }
      return out.sort();
    },
    async stop() {
      client.destroy();
      await fake.close();
    },
  };
}
