import { randomBytes } from "node:crypto";
import { UUID } from "../../lib/ids.ts";
import { invalidField } from "../errors.ts";
import { quote } from "../repos/repo-url.ts";

/** Site names: the one check every name passes, and the names Slipway makes up. */

const SITE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A site name is its host name label, so DNS rules apply, and `--` is kept for permalinks. */
export function checkSiteName(name: string): string {
  if (!SITE_NAME.test(name) || name.includes("--") || UUID.test(name)) {
    throw invalidField(
      "name",
      `${quote(name)} is not a valid site name: use 1 to 63 lower-case letters, digits and single hyphens, not starting or ending with a hyphen (the name becomes the site's host name)`,
    );
  }
  return name;
}

const ADJECTIVES = [
  "amber",
  "brisk",
  "calm",
  "dapper",
  "eager",
  "fuzzy",
  "gentle",
  "humble",
  "jolly",
  "keen",
  "lively",
  "mellow",
  "nimble",
  "plucky",
  "quiet",
  "rapid",
  "sunny",
  "tidy",
  "vivid",
  "witty",
];
const NOUNS = [
  "badger",
  "comet",
  "dune",
  "ember",
  "fjord",
  "gecko",
  "harbor",
  "island",
  "lagoon",
  "meadow",
  "nebula",
  "otter",
  "pebble",
  "quartz",
  "reef",
  "sparrow",
  "tundra",
  "walrus",
  "yarrow",
  "zephyr",
];

export function generatedName(): string {
  const [a, n, h] = [randomBytes(1)[0]!, randomBytes(1)[0]!, randomBytes(3).toString("hex")];
  return `${ADJECTIVES[a % ADJECTIVES.length]}-${NOUNS[n % NOUNS.length]}-${h}`;
}

export function nameTaken(name: string): never {
  throw invalidField("name", `the site name ${quote(name)} is already taken; choose another name`);
}
