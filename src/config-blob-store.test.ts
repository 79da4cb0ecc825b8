import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig: the blob store", () => {
  it("keeps blobs on local disk unless told otherwise", () => {
    assert.deepEqual(loadConfig({}).platform.blobStore, { kind: "local" });
    assert.deepEqual(loadConfig({ SLIPWAY_BLOB_STORE: "local" }).platform.blobStore, {
      kind: "local",
    });
  });

  it("reads the bucket, endpoint, path style and region for s3", () => {
    assert.deepEqual(
      loadConfig({
        SLIPWAY_BLOB_STORE: "s3",
        SLIPWAY_S3_BUCKET: "slipway-blobs",
        SLIPWAY_S3_ENDPOINT: "https://minio.internal:9000/",
        SLIPWAY_S3_FORCE_PATH_STYLE: "true",
      }).platform.blobStore,
      {
        kind: "s3",
        bucket: "slipway-blobs",
        endpoint: "https://minio.internal:9000",
        forcePathStyle: true,
        region: "us-east-1",
      },
    );
    assert.deepEqual(
      loadConfig({
        SLIPWAY_BLOB_STORE: "s3",
        SLIPWAY_S3_BUCKET: "b.example",
        AWS_REGION: "eu-west-3",
      }).platform.blobStore,
      {
        kind: "s3",
        bucket: "b.example",
        endpoint: undefined,
        forcePathStyle: false,
        region: "eu-west-3",
      },
    );
    // On AWS without a region variable, the SDK's own chain (~/.aws/config) decides.
    const aws = loadConfig({ SLIPWAY_BLOB_STORE: "s3", SLIPWAY_S3_BUCKET: "bucket" }).platform;
    assert.equal(aws.blobStore?.kind === "s3" && aws.blobStore.region, undefined);
  });

  it("refuses an unknown store, a missing or invalid bucket, a bad endpoint or path style", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ SLIPWAY_BLOB_STORE: "gcs" }, /SLIPWAY_BLOB_STORE="gcs" must be local .* or s3/],
      [{ SLIPWAY_BLOB_STORE: "s3" }, /needs SLIPWAY_S3_BUCKET/],
      [
        { SLIPWAY_BLOB_STORE: "s3", SLIPWAY_S3_BUCKET: "Upper_Case" },
        /SLIPWAY_S3_BUCKET=.*not a bucket name/,
      ],
      [
        {
          SLIPWAY_BLOB_STORE: "s3",
          SLIPWAY_S3_BUCKET: "ok-bucket",
          SLIPWAY_S3_ENDPOINT: "minio:9000",
        },
        /SLIPWAY_S3_ENDPOINT/,
      ],
      [
        {
          SLIPWAY_BLOB_STORE: "s3",
          SLIPWAY_S3_BUCKET: "ok-bucket",
          SLIPWAY_S3_ENDPOINT: "ftp://minio",
        },
        /SLIPWAY_S3_ENDPOINT must be an http/,
      ],
      [
        {
          SLIPWAY_BLOB_STORE: "s3",
          SLIPWAY_S3_BUCKET: "ok-bucket",
          SLIPWAY_S3_FORCE_PATH_STYLE: "yes",
        },
        /SLIPWAY_S3_FORCE_PATH_STYLE="yes" must be true or false/,
      ],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (error) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });
});
