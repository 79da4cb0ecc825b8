import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { it } from "node:test";
import { shellQuote } from "./shell.ts";

it("shellQuote: the shell reads every word back unchanged, as one word", () => {
  const words = ["plain", "", "two words", "it's", "'", '$HOME `id` \\ " ; | & * ?', "-n", "a\nb"];
  const script = `printf '%s\\0' ${words.map(shellQuote).join(" ")}`;
  const out = execFileSync("/bin/sh", ["-c", script], { encoding: "utf8" });
  assert.deepEqual(out.split("\0").slice(0, -1), words);
});
