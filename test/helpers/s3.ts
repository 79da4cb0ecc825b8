import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import type { S3BlobStoreConfig } from "../../src/config.ts";
import { createS3Client } from "../../src/platform/deploys/s3-client.ts";

/**
 * A local S3-compatible server for tests: @20minutes/s3rver (the maintained fork of s3rver,
 * Node ≥ 20), on a free loopback port, keeping its objects in a temp directory. It checks
 * SigV4 signatures (no `allowMismatchedSignatures`), so requests are signed as for AWS.
 */

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

type S3rverClass = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

/** The fake's one built-in key pair. */
const FAKE_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** What `SLIPWAY_BLOB_STORE=s3` against this server loads to. */
  config: S3BlobStoreConfig;
  /** A client of its own, for looking at the bucket behind the store's back. */
  client: S3Client;
  /** Every key in the bucket under `prefix`, sorted. */
  keys(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startTestS3(options: { bucket?: string } = {}): Promise<TestS3> {
  const S3rver = createRequire(import.meta.url)("@20minutes/s3rver") as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), "slipway-s3-"));
  const bucket = options.bucket ?? "slipway-test";
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const config: S3BlobStoreConfig = {
    kind: "s3",
    bucket,
    endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: FAKE_CREDENTIALS,
  };
  const client = createS3Client(config);
  return {
    endpoint,
    bucket,
    config,
    client,
    async keys(prefix = "") {
      const out: string[] = [];
      // The fake signs an empty `prefix=` differently from the SDK: leave it out.
      const input = { Bucket: bucket, ...(prefix !== "" ? { Prefix: prefix } : {}) };
      for await (const page of paginateListObjectsV2({ client }, input)) {
        for (const object of page.Contents ?? []) if (object.Key) out.push(object.Key);
      }
      return out.sort();
    },
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
