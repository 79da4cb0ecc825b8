import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "../server.ts";

/**
 * A strict fake of Amazon S3's REST API (path-style addressing), written from AWS's public
 * documentation (S3 API Reference; "Authenticating Requests: AWS Signature Version 4"), for
 * the operations Slipway's blob store uses: PutObject, CopyObject, GetObject (with Range),
 * HeadObject, DeleteObject, HeadBucket, ListObjectsV2, CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload, ListMultipartUploads. Everything else is
 * S3's 501 NotImplemented.
 *
 * Strict where S3 is: every request must be signed with SigV4 (Authorization header) by the
 * one key pair, within 15 minutes of the server's clock; a hex `x-amz-content-sha256` must
 * match the body. Like the many S3-compatible servers that implement no flexible checksums
 * (`x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm`, `aws-chunked` bodies with checksum
 * trailers — what the AWS SDK sends by default since 3.729), it refuses them with 501
 * NotImplemented, so a client must ask for checksums only when required. A completed multipart upload needs its parts in
 * ascending order with their ETags, each but the last at least 5 MiB; copying an object onto
 * itself needs `x-amz-metadata-directive: REPLACE`. Objects live in memory.
 */

export interface S3FakeObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
  contentType: string;
}

export interface S3FakeRequest {
  method: string;
  /** The S3 operation, e.g. `PutObject`, `UploadPart`, `ListObjectsV2`. */
  operation: string;
  key: string | undefined;
  status: number;
}

export interface S3Fake {
  /** `http://127.0.0.1:<port>`: the endpoint, path-style. */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Every request answered, in order. */
  requests: S3FakeRequest[];
  /** The objects of a bucket (tests look, and age LastModified, behind the client's back). */
  objects(bucket: string): Map<string, S3FakeObject>;
  /** Multipart uploads neither completed nor aborted. */
  openUploads(): { bucket: string; key: string; uploadId: string }[];
  close(): Promise<void>;
}

const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_SKEW_MS = 15 * 60 * 1000;

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Upload {
  bucket: string;
  key: string;
  contentType: string;
  parts: Map<number, { body: Buffer; etag: string }>;
}

/** RFC 3986 unreserved characters stay; everything else is %XX (SigV4's UriEncode). */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

const md5 = (data: Buffer): string => createHash("md5").update(data).digest("hex");
const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");
const hmac = (key: Buffer | string, data: string): Buffer =>
  createHmac("sha256", key).update(data).digest();
const xmlEscape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const xml = (body: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

export async function startS3Fake(options: { buckets: string[] }): Promise<S3Fake> {
  const region = "us-east-1";
  const credentials = {
    accessKeyId: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString("base64"),
  };
  const buckets = new Map(options.buckets.map((b) => [b, new Map<string, S3FakeObject>()]));
  const uploads = new Map<string, Upload>();
  const requests: S3FakeRequest[] = [];

  /** Checks the SigV4 Authorization header against the body (AWS's "signature calculations"). */
  function authenticate(req: IncomingMessage, rawPath: string, rawQuery: string, body: Buffer) {
    const header = req.headers.authorization ?? "";
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        header,
      );
    if (match === null) {
      throw new S3Error(
        403,
        "AccessDenied",
        "Access Denied (a SigV4 Authorization header is required)",
      );
    }
    const [, accessKeyId, date, signedRegion, signedHeaders, signature] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (accessKeyId !== credentials.accessKeyId) {
      throw new S3Error(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
      );
    }
    if (signedRegion !== region) {
      throw new S3Error(
        400,
        "AuthorizationHeaderMalformed",
        `the region '${signedRegion}' is wrong; expecting '${region}'`,
      );
    }
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const time = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (time === null || !amzDate.startsWith(date)) {
      throw new S3Error(
        403,
        "AccessDenied",
        "X-Amz-Date is missing or does not match the credential scope",
      );
    }
    const at = Date.UTC(+time[1]!, +time[2]! - 1, +time[3]!, +time[4]!, +time[5]!, +time[6]!);
    if (Math.abs(Date.now() - at) > MAX_SKEW_MS) {
      throw new S3Error(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
      );
    }
    const names = signedHeaders.split(";");
    if (!names.includes("host") || !names.includes("x-amz-date")) {
      throw new S3Error(403, "AccessDenied", "host and x-amz-date must be signed");
    }
    const payloadHash = String(req.headers["x-amz-content-sha256"] ?? "");
    if (
      payloadHash.startsWith("STREAMING-") ||
      /aws-chunked/.test(String(req.headers["content-encoding"] ?? ""))
    ) {
      throw new S3Error(
        501,
        "NotImplemented",
        "aws-chunked uploads (checksum trailers) are not supported",
      );
    }
    const checksum = Object.keys(req.headers).find((name) =>
      /^x-amz-(checksum-|sdk-checksum-algorithm$)/.test(name),
    );
    if (checksum !== undefined) {
      throw new S3Error(501, "NotImplemented", `${checksum}: flexible checksums are not supported`);
    }
    if (payloadHash !== "UNSIGNED-PAYLOAD") {
      if (!/^[0-9a-f]{64}$/.test(payloadHash)) {
        throw new S3Error(
          400,
          "InvalidArgument",
          "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256",
        );
      }
      if (payloadHash !== sha256(body)) {
        throw new S3Error(
          400,
          "XAmzContentSHA256Mismatch",
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
      }
    }
    const query =
      rawQuery === ""
        ? []
        : rawQuery.split("&").map((pair) => {
            const [k = "", v = ""] = pair.split("=");
            const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, "%20"));
            return [uriEncode(decode(k)), uriEncode(decode(v))] as const;
          });
    query.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
    const canonical = [
      req.method,
      rawPath,
      query.map(([k, v]) => `${k}=${v}`).join("&"),
      names
        .map((name) => {
          const value = req.headers[name];
          const text = Array.isArray(value) ? value.join(",") : (value ?? "");
          return `${name}:${text.trim().replace(/\s+/g, " ")}\n`;
        })
        .join(""),
      signedHeaders,
      payloadHash,
    ].join("\n");
    const scope = `${date}/${region}/s3/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
    let key = hmac(`AWS4${credentials.secretAccessKey}`, date);
    for (const part of [region, "s3", "aws4_request"]) key = hmac(key, part);
    const expected = hmac(key, toSign);
    if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
      throw new S3Error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
      );
    }
  }

  function bucketOf(name: string): Map<string, S3FakeObject> {
    const bucket = buckets.get(name);
    if (bucket === undefined)
      throw new S3Error(404, "NoSuchBucket", "The specified bucket does not exist");
    return bucket;
  }

  function objectOf(bucket: string, key: string): S3FakeObject {
    const object = bucketOf(bucket).get(key);
    if (object === undefined)
      throw new S3Error(404, "NoSuchKey", "The specified key does not exist.");
    return object;
  }

  function uploadOf(id: string | null, bucket: string, key: string): Upload {
    const upload = id === null ? undefined : uploads.get(id);
    if (upload === undefined || upload.bucket !== bucket || upload.key !== key) {
      throw new S3Error(404, "NoSuchUpload", "The specified multipart upload does not exist.");
    }
    return upload;
  }

  function store(
    bucket: string,
    key: string,
    body: Buffer,
    contentType: string,
    etag = `"${md5(body)}"`,
  ): S3FakeObject {
    const object = {
      body,
      etag,
      // S3 keeps LastModified to the second.
      lastModified: new Date(Math.floor(Date.now() / 1000) * 1000),
      contentType,
    };
    bucketOf(bucket).set(key, object);
    return object;
  }

  type Answer = { status: number; headers?: Record<string, string>; body?: string | Buffer };

  function objectHeaders(object: S3FakeObject, length: number): Record<string, string> {
    return {
      "content-length": String(length),
      "content-type": object.contentType,
      etag: object.etag,
      "last-modified": object.lastModified.toUTCString(),
      "accept-ranges": "bytes",
    };
  }

  /** `bytes=a-b`, `bytes=a-`, `bytes=-n`, clamped as S3 does; undefined: the whole object. */
  function range(
    header: string | undefined,
    size: number,
  ): { start: number; end: number } | undefined {
    if (header === undefined) return undefined;
    const m = /^bytes=(\d*)-(\d*)$/.exec(header);
    if (m === null || (m[1] === "" && m[2] === "")) return undefined;
    let start: number;
    let end: number;
    if (m[1] === "") {
      start = Math.max(0, size - Number(m[2]));
      end = size - 1;
    } else {
      start = Number(m[1]);
      end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    }
    if (start >= size || start > end) {
      throw new S3Error(416, "InvalidRange", "The requested range is not satisfiable");
    }
    return { start, end };
  }

  function handle(
    req: IncomingMessage,
    bucket: string,
    key: string | undefined,
    query: URLSearchParams,
    body: Buffer,
    note: (operation: string) => void,
  ): Answer {
    const method = req.method ?? "GET";
    const contentType = String(req.headers["content-type"] ?? "binary/octet-stream");
    if (key === undefined) {
      if (method === "HEAD" && query.size === 0) {
        note("HeadBucket");
        bucketOf(bucket);
        return { status: 200 };
      }
      if (method === "GET" && query.get("list-type") === "2") {
        note("ListObjectsV2");
        const prefix = query.get("prefix") ?? "";
        const maxKeys = Math.min(1000, Number(query.get("max-keys") ?? 1000));
        const after = query.get("continuation-token") ?? query.get("start-after") ?? "";
        const keys = [...bucketOf(bucket).keys()]
          .filter((k) => k.startsWith(prefix) && k > after)
          .sort();
        const page = keys.slice(0, maxKeys);
        const truncated = keys.length > page.length;
        const contents = page.map((k) => {
          const o = bucketOf(bucket).get(k)!;
          return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        });
        return {
          status: 200,
          headers: { "content-type": "application/xml" },
          body: xml(
            `<ListBucketResult ${NS}><Name>${bucket}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents.join("")}${truncated ? `<NextContinuationToken>${xmlEscape(page.at(-1)!)}</NextContinuationToken>` : ""}</ListBucketResult>`,
          ),
        };
      }
      if (method === "GET" && query.has("uploads")) {
        note("ListMultipartUploads");
        bucketOf(bucket);
        const open = [...uploads].filter(([, u]) => u.bucket === bucket);
        return {
          status: 200,
          headers: { "content-type": "application/xml" },
          body: xml(
            `<ListMultipartUploadsResult ${NS}><Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated>${open.map(([id, u]) => `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${id}</UploadId></Upload>`).join("")}</ListMultipartUploadsResult>`,
          ),
        };
      }
      note("unsupported");
      throw new S3Error(
        501,
        "NotImplemented",
        "A header or query you provided implies functionality that is not implemented",
      );
    }

    if (method === "PUT" && query.has("uploadId")) {
      note("UploadPart");
      const upload = uploadOf(query.get("uploadId"), bucket, key);
      const part = Number(query.get("partNumber"));
      if (!Number.isInteger(part) || part < 1 || part > 10_000) {
        throw new S3Error(
          400,
          "InvalidArgument",
          "Part number must be an integer between 1 and 10000, inclusive",
        );
      }
      const etag = `"${md5(body)}"`;
      upload.parts.set(part, { body, etag });
      return { status: 200, headers: { etag } };
    }
    if (method === "PUT" && req.headers["x-amz-copy-source"] !== undefined) {
      note("CopyObject");
      const source = decodeURIComponent(String(req.headers["x-amz-copy-source"])).replace(
        /^\//,
        "",
      );
      const slash = source.indexOf("/");
      const [fromBucket, fromKey] = [source.slice(0, slash), source.slice(slash + 1)];
      const from = objectOf(fromBucket, fromKey);
      const replace = req.headers["x-amz-metadata-directive"] === "REPLACE";
      if (fromBucket === bucket && fromKey === key && !replace) {
        throw new S3Error(
          400,
          "InvalidRequest",
          "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        );
      }
      const copy = store(
        bucket,
        key,
        from.body,
        replace ? contentType : from.contentType,
        from.etag,
      );
      return {
        status: 200,
        headers: { "content-type": "application/xml" },
        body: xml(
          `<CopyObjectResult ${NS}><LastModified>${copy.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(copy.etag)}</ETag></CopyObjectResult>`,
        ),
      };
    }
    if (method === "PUT" && query.size === 0) {
      note("PutObject");
      const contentMd5 = req.headers["content-md5"];
      if (
        contentMd5 !== undefined &&
        contentMd5 !== createHash("md5").update(body).digest("base64")
      ) {
        throw new S3Error(
          400,
          "BadDigest",
          "The Content-MD5 you specified did not match what we received.",
        );
      }
      const object = store(bucket, key, body, contentType);
      return { status: 200, headers: { etag: object.etag } };
    }
    if (method === "POST" && query.has("uploads")) {
      note("CreateMultipartUpload");
      bucketOf(bucket);
      const uploadId = randomBytes(24).toString("base64url");
      uploads.set(uploadId, { bucket, key, contentType, parts: new Map() });
      return {
        status: 200,
        headers: { "content-type": "application/xml" },
        body: xml(
          `<InitiateMultipartUploadResult ${NS}><Bucket>${bucket}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
        ),
      };
    }
    if (method === "POST" && query.has("uploadId")) {
      note("CompleteMultipartUpload");
      const uploadId = query.get("uploadId")!;
      const upload = uploadOf(uploadId, bucket, key);
      const listed = [...body.toString("utf8").matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
        number: Number(/<PartNumber>(\d+)<\/PartNumber>/.exec(m[1]!)?.[1]),
        etag: (/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1]!)?.[1] ?? "").replace(/&quot;/g, '"'),
      }));
      if (listed.length === 0)
        throw new S3Error(
          400,
          "MalformedXML",
          "The XML you provided was not well-formed or did not validate against our published schema.",
        );
      const chosen = listed.map((p, i) => {
        if (i > 0 && p.number <= listed[i - 1]!.number) {
          throw new S3Error(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
          );
        }
        const part = upload.parts.get(p.number);
        if (part === undefined || part.etag.replace(/"/g, "") !== p.etag.replace(/"/g, "")) {
          throw new S3Error(
            400,
            "InvalidPart",
            "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
          );
        }
        return part;
      });
      chosen.slice(0, -1).forEach((part) => {
        if (part.body.length < MIN_PART_BYTES) {
          throw new S3Error(
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.",
          );
        }
      });
      const digest = createHash("md5");
      for (const part of chosen) digest.update(Buffer.from(part.etag.replace(/"/g, ""), "hex"));
      const object = store(
        bucket,
        key,
        Buffer.concat(chosen.map((p) => p.body)),
        upload.contentType,
        `"${digest.digest("hex")}-${chosen.length}"`,
      );
      uploads.delete(uploadId);
      return {
        status: 200,
        headers: { "content-type": "application/xml" },
        body: xml(
          `<CompleteMultipartUploadResult ${NS}><Bucket>${bucket}</Bucket><Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(object.etag)}</ETag></CompleteMultipartUploadResult>`,
        ),
      };
    }
    if (method === "DELETE" && query.has("uploadId")) {
      note("AbortMultipartUpload");
      uploadOf(query.get("uploadId"), bucket, key);
      uploads.delete(query.get("uploadId")!);
      return { status: 204 };
    }
    if ((method === "GET" || method === "HEAD") && query.size === 0) {
      note(method === "GET" ? "GetObject" : "HeadObject");
      const object = objectOf(bucket, key);
      const wanted = range(req.headers.range, object.body.length);
      if (wanted === undefined) {
        return {
          status: 200,
          headers: objectHeaders(object, object.body.length),
          body: object.body,
        };
      }
      return {
        status: 206,
        headers: {
          ...objectHeaders(object, wanted.end - wanted.start + 1),
          "content-range": `bytes ${wanted.start}-${wanted.end}/${object.body.length}`,
        },
        body: object.body.subarray(wanted.start, wanted.end + 1),
      };
    }
    if (method === "DELETE" && query.size === 0) {
      note("DeleteObject");
      bucketOf(bucket).delete(key);
      return { status: 204 };
    }
    note("unsupported");
    throw new S3Error(
      501,
      "NotImplemented",
      "A header or query you provided implies functionality that is not implemented",
    );
  }

  function answer(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const rawPath = q === -1 ? url : url.slice(0, q);
    const rawQuery = q === -1 ? "" : url.slice(q + 1);
    const query = new URLSearchParams(rawQuery);
    // The SDK names the operation in `x-id` (GetObject, PutObject…); S3 ignores it.
    query.delete("x-id");
    const [, rawBucket = "", ...rest] = rawPath.split("/");
    const bucket = decodeURIComponent(rawBucket);
    const key =
      rest.length === 0 || (rest.length === 1 && rest[0] === "")
        ? undefined
        : decodeURIComponent(rest.join("/"));
    const logged: S3FakeRequest = {
      method: req.method ?? "",
      operation: "unknown",
      key,
      status: 0,
    };
    let reply: Answer;
    try {
      authenticate(req, rawPath, rawQuery, body);
      if (bucket === "") throw new S3Error(501, "NotImplemented", "ListBuckets is not implemented");
      reply = handle(req, bucket, key, query, body, (operation) => {
        logged.operation = operation;
      });
    } catch (error) {
      if (!(error instanceof S3Error)) throw error;
      const requestId = randomBytes(8).toString("hex").toUpperCase();
      reply = {
        status: error.status,
        headers: { "content-type": "application/xml", "x-amz-request-id": requestId },
        // HEAD answers carry no body: the SDK reads the status alone.
        body:
          req.method === "HEAD"
            ? undefined
            : xml(
                `<Error><Code>${error.code}</Code><Message>${xmlEscape(error.message)}</Message><RequestId>${requestId}</RequestId></Error>`,
              ),
      };
    }
    logged.status = reply.status;
    requests.push(logged);
    const payload = reply.body === undefined ? undefined : Buffer.from(reply.body);
    res.writeHead(reply.status, {
      ...(payload !== undefined && req.method !== "HEAD"
        ? { "content-length": String(payload.length) }
        : {}),
      ...reply.headers,
    });
    res.end(req.method === "HEAD" ? undefined : payload);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => answer(req, res, Buffer.concat(chunks)));
  });
  const listening = await listen(server);
  return {
    endpoint: listening.url,
    region,
    credentials,
    requests,
    objects: (bucket) => bucketOf(bucket),
    openUploads: () =>
      [...uploads].map(([uploadId, u]) => ({ bucket: u.bucket, key: u.key, uploadId })),
    close: () => listening.close(),
  };
}
