import type { BlobStoreConfig } from "../../config.ts";
import { CollectableBlobStore } from "./collectable-blobs.ts";
import { LocalManifestStore, type ManifestStore } from "./manifest.ts";
import type { S3BlobStore } from "./s3-blob-store.ts";

export interface DeployStores {
  blobs: CollectableBlobStore | S3BlobStore;
  manifests: ManifestStore;
}

/**
 * The blob and manifest stores `SLIPWAY_BLOB_STORE` names: local disk under `deployRoot` (the
 * default) or an S3 bucket, checked to be reachable so a wrong bucket or credential fails at
 * start rather than at the first deploy.
 */
export async function openDeployStores(
  config: BlobStoreConfig | undefined,
  deployRoot: string,
  options: { graceMs: number },
): Promise<DeployStores> {
  if (config?.kind === "s3") {
    // The AWS SDK is loaded only for S3 (what a start loads: test/architecture.test.ts).
    const [{ S3BlobStore }, { checkBucket, createS3Client }, { S3ManifestStore }] =
      await Promise.all([
        import("./s3-blob-store.ts"),
        import("./s3-client.ts"),
        import("./s3-manifest-store.ts"),
      ]);
    const client = createS3Client(config);
    await checkBucket(client, config.bucket);
    return {
      blobs: new S3BlobStore({ client, bucket: config.bucket, graceMs: options.graceMs }),
      manifests: new S3ManifestStore(client, config.bucket),
    };
  }
  return {
    blobs: await CollectableBlobStore.open(deployRoot, { graceMs: options.graceMs }),
    manifests: await LocalManifestStore.open(deployRoot),
  };
}
