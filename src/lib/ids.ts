import { randomBytes, randomUUID } from "node:crypto";

/**
 * A 24-hex id in the shape of Netlify's (MongoDB ObjectId-like) deploy, build, account and user
 * ids. All 12 bytes are random, not a timestamp and a counter: some of these ids are
 * capabilities (a build hook's URL is its id), so they must not be guessable.
 */
export function objectId(): string {
  return randomBytes(12).toString("hex");
}

export const OBJECT_ID = /^[0-9a-f]{24}$/;

/** A random UUID v4, Netlify's format for site ids. */
export function uuid(): string {
  return randomUUID();
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
