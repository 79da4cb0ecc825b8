#!/usr/bin/env node
// The `slipway` executable. `slipway deploy` runs from the bundle `npm run build` makes while
// that bundle matches the sources (it starts in a fraction of the time); every other command,
// and a missing or stale bundle, loads the TypeScript sources through tsx.
import { currentBundle } from "./cli-bundle.js";

const argv = process.argv.slice(2);
const bundle = argv[0] === "deploy" ? currentBundle() : undefined;
if (bundle !== undefined) {
  const { runDeploy } = await import(bundle);
  // Everything is written (stdout and stderr are synchronous on Linux); exiting now spares the
  // ~20 ms of an orderly teardown of a process that is done.
  process.exit(await runDeploy(argv.slice(1)));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import("../src/cli/main.ts");
  await main(argv);
}
