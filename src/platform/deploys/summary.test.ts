import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "../../lib/logger.ts";
import type { PlatformContext } from "../context.ts";
import type { BlobReader } from "./blob-store.ts";
import { createManifest } from "./manifest.ts";
import { MAX_SUMMARY_ERRORS, readSummary, rulesSummary, summarizeForPublish } from "./summary.ts";

/** The stored summary: never a reason for a publish to fail, and always a small row. */

const manifest = createManifest([["_redirects", { sha1: "1".repeat(40), size: 10 }]]);
const blobs = {} as BlobReader;

describe("a deploy's stored summary", () => {
  it("says the rules could not be read, instead of throwing, when parsing fails", async () => {
    const warnings: unknown[] = [];
    const log = createLogger({ name: "test", level: "silent" });
    log.warn = ((obj: unknown) => void warnings.push(obj)) as typeof log.warn;
    const json = await summarizeForPublish(
      { log } as PlatformContext,
      "d1",
      () => Promise.reject(new Error("blob store down")),
      manifest,
      blobs,
    );
    const summary = readSummary(json);
    assert.match(summary?.failure ?? "", /could not read this deploy's _redirects/);
    assert.equal(summary?.redirects, 0);
    assert.equal(warnings.length, 1, "the cause is logged, not shown");
  });

  it("keeps the first messages of each kind and how many there were", () => {
    const many = Array.from({ length: MAX_SUMMARY_ERRORS + 5 }, (_, i) => `line ${i + 1}`);
    const summary = rulesSummary({
      redirects: [1, 2],
      headers: [],
      redirectErrors: many,
      headerErrors: ["x".repeat(2000)],
    });
    assert.equal(summary.redirectErrors.length, MAX_SUMMARY_ERRORS);
    assert.equal(summary.redirectErrorCount, MAX_SUMMARY_ERRORS + 5);
    assert.equal(summary.headerErrors[0]?.length, 500);
    assert.deepEqual(readSummary(JSON.stringify(summary)), summary);
  });

  it("reads no summary from a deploy without one", () => {
    assert.equal(readSummary(null), null);
    assert.equal(readSummary("not json"), null);
  });
});
