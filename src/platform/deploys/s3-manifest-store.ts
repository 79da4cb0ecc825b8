import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import {
  assertDeployId,
  ManifestConflictError,
  manifestToJson,
  parseManifestJson,
  type DeployManifest,
  type ManifestStore,
} from "./manifest.ts";
import { isS3NotFound } from "./s3-client.ts";

/**
 * Manifests as objects `manifests/<deployId>.json` beside the blobs, so that any node can
 * serve any deploy. A manifest is stored once S3 answered the PUT.
 */
export class S3ManifestStore implements ManifestStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  private keyOf(deployId: string): string {
    assertDeployId(deployId);
    return `manifests/${deployId}.json`;
  }

  async put(deployId: string, manifest: DeployManifest): Promise<void> {
    const key = this.keyOf(deployId);
    const json = manifestToJson(manifest);
    const existing = await this.read(key);
    if (existing !== undefined) {
      if (existing === json) return;
      throw new ManifestConflictError(deployId);
    }
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: json,
        ContentType: "application/json",
      }),
    );
  }

  async get(deployId: string): Promise<DeployManifest | undefined> {
    const text = await this.read(this.keyOf(deployId));
    return text === undefined ? undefined : parseManifestJson(text);
  }

  async delete(deployId: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(deployId) }),
    );
  }

  private async read(key: string): Promise<string | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      return await response.Body?.transformToString("utf8");
    } catch (error) {
      if (isS3NotFound(error)) return undefined;
      throw error;
    }
  }
}
