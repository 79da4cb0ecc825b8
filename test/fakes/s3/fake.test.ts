import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { startS3Fake, type S3Fake } from "./fake.ts";

/** The fake refuses what S3 refuses: a client test against it proves something. */
describe("S3 fake", () => {
  let fake: S3Fake;
  let client: S3Client;
  const Bucket = "strict";

  const clientWith = (credentials: S3Fake["credentials"], extra: object = {}) =>
    new S3Client({
      endpoint: fake.endpoint,
      region: fake.region,
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 1,
      ...extra,
    });

  before(async () => {
    fake = await startS3Fake({ buckets: [Bucket] });
    client = clientWith(fake.credentials);
  });
  after(async () => {
    client.destroy();
    await fake.close();
  });

  it("answers a signed request and refuses a wrong secret, an unknown key and no signature", async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: "a/b c.txt", Body: "hello" }));
    const got = await client.send(new GetObjectCommand({ Bucket, Key: "a/b c.txt" }));
    assert.equal(await got.Body?.transformToString(), "hello");

    const wrongSecret = clientWith({ ...fake.credentials, secretAccessKey: "not the secret" });
    await assert.rejects(wrongSecret.send(new GetObjectCommand({ Bucket, Key: "a/b c.txt" })), {
      name: "SignatureDoesNotMatch",
    });
    const unknownKey = clientWith({ ...fake.credentials, accessKeyId: "AKIAUNKNOWN" });
    await assert.rejects(unknownKey.send(new GetObjectCommand({ Bucket, Key: "a/b c.txt" })), {
      name: "InvalidAccessKeyId",
    });
    const anonymous = await fetch(`${fake.endpoint}/${Bucket}/a/b%20c.txt`);
    assert.equal(anonymous.status, 403);
    wrongSecret.destroy();
    unknownKey.destroy();
  });

  it("refuses the SDK's default flexible checksums", async () => {
    const defaults = clientWith(fake.credentials, {
      requestChecksumCalculation: "WHEN_SUPPORTED",
    });
    await assert.rejects(
      defaults.send(new PutObjectCommand({ Bucket, Key: "k", Body: "x" })),
      (error: Error) => error.name === "NotImplemented" && /checksum/.test(error.message),
    );
    defaults.destroy();
  });

  it("answers ranges with 206 and refuses unsatisfiable ones", async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: "r", Body: "0123456789" }));
    const part = await client.send(new GetObjectCommand({ Bucket, Key: "r", Range: "bytes=2-4" }));
    assert.equal(part.ContentRange, "bytes 2-4/10");
    assert.equal(await part.Body?.transformToString(), "234");
    await assert.rejects(
      client.send(new GetObjectCommand({ Bucket, Key: "r", Range: "bytes=10-" })),
      {
        name: "InvalidRange",
      },
    );
    await assert.rejects(client.send(new GetObjectCommand({ Bucket, Key: "missing" })), {
      name: "NoSuchKey",
    });
  });

  it("refuses a copy onto itself unless the metadata is replaced", async () => {
    const copy = (replace: boolean) =>
      client.send(
        new CopyObjectCommand({
          Bucket,
          Key: "r",
          CopySource: `${Bucket}/r`,
          ...(replace ? { MetadataDirective: "REPLACE" as const } : {}),
        }),
      );
    await assert.rejects(copy(false), { name: "InvalidRequest" });
    await copy(true);
  });

  it("completes a multipart upload only with its parts in order, each but the last ≥ 5 MiB", async () => {
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: "m" }));
    const upload = async (PartNumber: number, size: number) => {
      const { ETag } = await client.send(
        new UploadPartCommand({
          Bucket,
          Key: "m",
          UploadId,
          PartNumber,
          Body: Buffer.alloc(size, PartNumber),
        }),
      );
      return { PartNumber, ETag: ETag! };
    };
    const small = await upload(1, 1024);
    const last = await upload(2, 10);
    const complete = (Parts: { PartNumber: number; ETag: string }[]) =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: "m",
          UploadId,
          MultipartUpload: { Parts },
        }),
      );
    await assert.rejects(complete([small, last]), { name: "EntityTooSmall" });
    const first = await upload(1, 5 * 1024 * 1024);
    await assert.rejects(complete([last, first]), { name: "InvalidPartOrder" });
    await assert.rejects(complete([{ ...first, ETag: '"0"' }, last]), { name: "InvalidPart" });
    await complete([first, last]);
    assert.equal(fake.objects(Bucket).get("m")!.body.length, 5 * 1024 * 1024 + 10);
    assert.match(fake.objects(Bucket).get("m")!.etag, /-2"$/);
    assert.deepEqual(fake.openUploads(), []);
  });
});
